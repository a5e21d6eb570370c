"""A broker that is down while booking asks identity about a token: 503 to retry, not 500."""

from __future__ import annotations

import pytest
from kombu.exceptions import OperationalError

from services.common.errors import Unavailable
from services.common.nameko_ext.identity_auth import Authenticator


class Unreachable:
    """A principal cache whose RPC to identity cannot be sent."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def get(self, token: str, authenticate=None):
        raise self.error


@pytest.mark.parametrize("error", [OperationalError("broker down"), ConnectionResetError(104)])
def test_a_broker_down_during_authentication_is_identity_unavailable(error):
    with pytest.raises(Unavailable):
        Authenticator(Unreachable(error), None, 1.0)("token")
