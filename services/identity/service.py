"""Identity entrypoints: practitioners, patients, connectors, grants and tokens (issue #4)."""

from services.common.nameko_ext.base import CarnetService


class IdentityService(CarnetService):
    """Owns who is who and who may read what."""

    name = "identity"
