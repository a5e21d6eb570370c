"""A short-lived cache of identity's principals, dropped on identity's revocation events.

Services that check a bearer token on every request (booking) ask identity's RPC
`authenticate(token)` at most once per TTL per token, and drop entries as soon as one of
identity's INVALIDATING_EVENTS arrives, so a suspended connector or account is refused within
the relay-to-consumer latency (well under a second), not the TTL. Plain Python: no nameko,
safe from any thread.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# Identity events after which a cached principal may say more than identity now allows.
# Consumers subscribe to exactly these (booking's @consume_event). Not QuotaSet: a quota is
# the bucket's business, not what a principal may reach; not the reinstatements and
# CredentialsSet: a refusal is never cached, so nothing cached is wrong after them.
INVALIDATING_EVENTS = (
    "ConnectorSuspended",
    "ConnectorAuthorizationRevoked",
    "ConnectorSecretRotated",
    "AccountSuspended",
    "CredentialsReset",
)


def token_sha256(token: str) -> str:
    """What a service sends identity's `authenticate(token_sha256=...)` instead of the token.

    Identity keeps only this digest of a token, so it needs nothing more; RPC requests travel
    through the broker, where a usable token must never be readable (docs/security.md).
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# The one statement of the cache's lifetime (docs/booking.md "Principals and suspension"):
# a refused token is refused by every replica within the TTL even when an event is missed.
DEFAULT_TTL_S, MAX_TTL_S = 0.5, 1.0


def token_fingerprint(token: str) -> str:
    """16 hex digits naming a presented token in access records (AppointmentsAccessed V3).

    Domain-separated from `token_sha256`, and 64 bits only: it links one token's attempts (a
    replayed or guessed token) without being anything identity would accept.
    """
    return hashlib.sha256(b"carnet:token-fingerprint:" + token.encode("utf-8")).hexdigest()[:16]


def _key(token: str) -> bytes:
    """Entries are keyed by the token's SHA-256, so a memory dump shows no usable token."""
    return hashlib.sha256(token.encode("utf-8")).digest()


class PrincipalCache:
    """`get(token)` -> principal dict, calling `authenticate` on a miss; refusals are not cached."""

    def __init__(
        self,
        authenticate: Callable[[str], dict[str, Any]] | None = None,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        self._authenticate = authenticate
        self._ttl = ttl_s
        self._clock = clock
        self._max = max_entries
        self._lock = threading.Lock()
        self._entries: dict[bytes, tuple[float, dict[str, Any]]] = {}
        # Bumped by every drop: a lookup that started before a drop must not store its answer,
        # or a principal fetched just before a suspension would be cached after it.
        self._generation = 0

    def get(
        self, token: str, authenticate: Callable[[str], dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """The principal for `token`, from cache when fresh; identity's error propagates.

        `authenticate` overrides the constructor's for this miss (a nameko worker passes its
        own RPC proxy, which is bound to that worker).
        """
        key, now = _key(token), self._clock()
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
            generation = self._generation
        lookup = authenticate or self._authenticate
        if lookup is None:
            raise TypeError("no authenticate: pass one here or to the constructor")
        # Outside the lock: an RPC may take a while.
        principal = lookup(token)
        with self._lock:
            if generation == self._generation:
                if len(self._entries) >= self._max:
                    self._evict(now)
                self._entries[key] = (now + self._ttl, principal)
        return principal

    def drop_connector(self, connector_id: str) -> int:
        """Forget every principal of this connector; how many entries went."""
        return self._drop(
            lambda p: p.get("kind") == "connector" and p.get("id") == str(connector_id)
        )

    def drop_principal(self, principal_id: str) -> int:
        """Forget every token of this principal, whatever its kind; how many entries went."""
        return self._drop(lambda p: p.get("id") == str(principal_id))

    def drop_token_ids(self, token_ids: Iterable[str]) -> int:
        """Forget the principals of these tokens (by token id, never the token)."""
        wanted = {str(t) for t in token_ids}
        return self._drop(lambda p: p.get("token_id") in wanted)

    def clear(self) -> None:
        """Forget everything (e.g. after a consumer reconnect that may have missed events)."""
        self._drop(lambda p: True)

    def on_identity_event(self, event_type: str, payload: Mapping[str, Any]) -> int:
        """Apply one identity event: a consumer of identity.events calls this for each."""
        if event_type not in INVALIDATING_EVENTS:
            return 0
        if "connector_id" in payload:  # connector events name the connector
            dropped = self.drop_connector(str(payload["connector_id"]))
        else:  # account events name the person's principal, of any kind
            dropped = self.drop_principal(str(payload["principal_id"]))
        return dropped + self.drop_token_ids(payload.get("revoked_token_ids", ()))

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _drop(self, match: Callable[[dict[str, Any]], bool]) -> int:
        with self._lock:
            self._generation += 1
            gone = [k for k, (_, p) in self._entries.items() if match(p)]
            for k in gone:
                del self._entries[k]
            return len(gone)

    def _evict(self, now: float) -> None:
        """Drop expired entries; if still full, the oldest half (insertion order)."""
        for k in [k for k, (exp, _) in self._entries.items() if exp <= now]:
            del self._entries[k]
        if len(self._entries) >= self._max:
            for k in list(self._entries)[: max(1, self._max // 2)]:
                del self._entries[k]
