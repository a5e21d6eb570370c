"""Bearer tokens checked by identity's `authenticate` RPC, through a short-lived cache.

Booking and audit declare `auth = IdentityAuth("BOOKING")` (or "AUDIT"); a worker gets an
`Authenticator`: `auth(token)` is identity's answer (a principal dict) or a refusal the edge
maps — Unauthorized when identity refused the token, Unavailable when it did not answer in
`<PREFIX>_IDENTITY_TIMEOUT_SECONDS` or the broker is down. Only the token's SHA-256 crosses
the bus. Cached answers live `<PREFIX>_PRINCIPAL_TTL_SECONDS` (at most a second) and are
dropped at once by `auth.forget(...)` on identity's revocation events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import eventlet
from kombu.exceptions import OperationalError as BrokerUnavailable
from nameko.exceptions import RemoteError
from nameko.extensions import DependencyProvider
from nameko.rpc import ServiceProxy

from services.common.errors import Unauthorized, Unavailable
from services.common.logging import get_logger
from services.common.nameko_ext.quorum_rpc import PassiveReplyListener
from services.common.principals import DEFAULT_TTL_S, MAX_TTL_S, PrincipalCache, token_sha256

log = get_logger(__name__)
DEFAULT_TIMEOUT_S = 5.0


def _seconds(config: Mapping[str, Any], key: str, default: float) -> float:
    value = config.get(key)
    return default if value in (None, "") else float(value)


class Authenticator:
    """`auth(token)`: identity's principal for the token, or a refusal; `forget` on events."""

    def __init__(self, cache: Any, identity: Any, timeout_s: float) -> None:
        self.cache, self.identity, self.timeout_s = cache, identity, timeout_s

    def _ask(self, token: str) -> dict[str, Any]:
        """The RPC with the token's SHA-256: a bearer token never rides the bus."""
        return self.identity.authenticate(token_sha256=token_sha256(token))

    def __call__(self, token: str) -> dict[str, Any]:
        """identity.authenticate through the cache: refused is Unauthorized, silence Unavailable."""
        try:
            with eventlet.Timeout(self.timeout_s):
                return self.cache.get(token, authenticate=self._ask)
        except (eventlet.Timeout, BrokerUnavailable, OSError):
            # Silence, or the broker down (the RPC cannot even be sent): retry later.
            raise Unavailable("identity is unavailable, retry later") from None
        except RemoteError as error:
            if error.exc_type == "AuthenticationError":
                reason = str(error.value).split()[0] if error.value else "refused"
                raise Unauthorized(f"token refused: {reason}") from None
            raise Unavailable("identity is unavailable, retry later") from None

    def forget(self, event_type: str, payload: Mapping[str, Any]) -> int:
        """Drop what identity's event revokes (suspension, grant, secret, credentials)."""
        return self.cache.on_identity_event(event_type, payload)

    def forget_on(self, event: Any, consumer: str) -> None:
        """`forget` for a consumed event, with the line that says this replica heard it."""
        dropped = self.forget(event.event_type, event.payload)
        log.info("principals.dropped", consumer=consumer, event_type=event.event_type,
                 dropped=dropped)  # fmt: skip


class IdentityAuth(DependencyProvider):
    """One principal cache per process in front of identity's RPC, for every worker."""

    # As nameko's RpcProxy does (a DependencyProvider cannot nest one): the shared listener
    # of RPC replies (bound without declaring nameko's exchange), and a ServiceProxy per worker.
    rpc_reply_listener = PassiveReplyListener()

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def setup(self) -> None:
        """TTL (capped at a second) and timeout from `<PREFIX>_*` config keys."""
        config = self.container.config
        ttl = _seconds(config, f"{self.prefix}_PRINCIPAL_TTL_SECONDS", DEFAULT_TTL_S)
        self.timeout_s = _seconds(
            config, f"{self.prefix}_IDENTITY_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_S
        )
        self.cache = PrincipalCache(ttl_s=min(MAX_TTL_S, ttl))

    def get_dependency(self, worker_ctx: Any) -> Authenticator:
        """The shared cache with this worker's RPC proxy."""
        identity = ServiceProxy(worker_ctx, "identity", self.rpc_reply_listener)
        return Authenticator(self.cache, identity, self.timeout_s)
