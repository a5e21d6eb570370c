"""Every check of a bundle, in order: keys, heads, consistency, entries and chain, inclusion.

Each problem names its item (a key, a head by tree size, an entry by seq, a proof), so the
first one printed is the first bad item. A field that cannot be read is a problem of its
item, not a reason to stop: the other items are still checked.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from carnet_verify import FORMAT
from carnet_verify.entries import entry_hash
from carnet_verify.merkle import verify_consistency, verify_inclusion

GENESIS = bytes(32)
TREE_HEAD_CONTEXT = b"carnet-audit-tree-head-v1\n"
_LISTS = ("keys", "heads", "consistency", "entries", "inclusion")


class Unreadable(Exception):
    """Not a bundle at all: nothing could be checked (exit 2)."""


class Bad(Exception):
    """One item is wrong; the message says how."""


def load(path: Path) -> dict[str, Any]:
    """The bundle as JSON, with its lists present; Unreadable otherwise."""
    try:
        bundle = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise Unreadable(f"cannot read {path}: {exc}") from None
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise Unreadable(f"{path} is not a {FORMAT} bundle")
    for name in _LISTS:
        if not isinstance(bundle.get(name), list):
            raise Unreadable(f"{path} has no list {name!r}")
    if not isinstance(bundle.get("window"), dict):
        raise Unreadable(f"{path} has no window")
    return bundle


def _hash(value: Any, what: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except (TypeError, ValueError):
        raise Bad(f"{what} is not hex") from None
    if len(raw) != 32:
        raise Bad(f"{what} is not 32 bytes")
    return raw


def _b64(value: Any, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (TypeError, ValueError, binascii.Error):
        raise Bad(f"{what} is not base64") from None


def _key(item: Mapping[str, Any]) -> tuple[str, bytes]:
    if item.get("algorithm") != "ed25519":
        raise Bad(f"algorithm {item.get('algorithm')!r} is not ed25519")
    raw = _b64(item.get("public_key"), "public_key")
    if len(raw) != 32:
        raise Bad("public_key is not 32 bytes")
    return str(item.get("key_id")), raw


def head_message(head: Mapping[str, Any]) -> bytes:
    """What the audit signs: a context line, then the head as JSON with sorted keys and no
    whitespace (for these four fields, the same bytes as RFC 8785)."""
    fields = {k: head[k] for k in ("tree_size", "root_hash", "timestamp", "key_id")}
    return TREE_HEAD_CONTEXT + json.dumps(
        fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


class Checker:
    """Runs the checks in order and keeps every problem, each naming its item."""

    def __init__(self, bundle: Mapping[str, Any], pinned: Mapping[str, bytes]) -> None:
        self.bundle, self.pinned, self.problems = bundle, pinned, []
        self.keys: dict[str, bytes] = {}
        self.roots: dict[int, bytes] = {}  # tree size -> root, of heads whose signature holds

    def item(self, name: str, check: Callable[[], None]) -> None:
        """Run one item's check; a Bad (or a field missing or of the wrong type) is noted."""
        try:
            check()
        except Bad as exc:
            self.problems.append(f"{name}: {exc}")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self.problems.append(f"{name}: malformed ({type(exc).__name__}: {exc})")

    def run(self) -> list[str]:
        """Every check; the problems in order (empty: the bundle is valid)."""
        self.check_keys()
        self.check_heads()
        self.check_consistency()
        self.check_entries()
        self.check_inclusion()
        return self.problems

    def check_keys(self) -> None:
        for n, item in enumerate(self.bundle["keys"], 1):
            self.item(f"key #{n}", lambda item=item: self._add_key(item))
        for key_id, raw in self.pinned.items():
            if self.keys.get(key_id, raw) != raw:
                self.problems.append(f"key {key_id}: not the pinned public key")
        if self.pinned:
            self.keys = dict(self.pinned)  # heads are checked against the pinned keys only

    def _add_key(self, item: Mapping[str, Any]) -> None:
        key_id, raw = _key(item)
        self.keys[key_id] = raw

    def check_heads(self) -> None:
        previous = 0
        for head in self.bundle["heads"]:
            name = f"head of tree size {head.get('tree_size') if isinstance(head, dict) else '?'}"
            self.item(name, lambda head=head, previous=previous: self._head(head, previous))
            if isinstance(head, dict) and isinstance(head.get("tree_size"), int):
                previous = max(previous, head["tree_size"])

    def _head(self, head: Mapping[str, Any], previous: int) -> None:
        size = head["tree_size"]
        if not isinstance(size, int) or size <= previous:
            raise Bad(f"tree sizes must increase (after {previous})")
        root = _hash(head["root_hash"], "root_hash")
        raw = self.keys.get(head["key_id"])
        if raw is None or head.get("algorithm", "ed25519") != "ed25519":
            raise Bad(f"key {head['key_id']!r} is not among the keys")
        signature = _b64(head["signature"], "signature")
        try:
            Ed25519PublicKey.from_public_bytes(raw).verify(signature, head_message(head))
        except InvalidSignature:
            raise Bad("signature invalid") from None
        self.roots[size] = root

    def check_consistency(self) -> None:
        proofs = {(p.get("from"), p.get("to")): p for p in self.bundle["consistency"]}
        sizes = sorted(self.roots)
        for a, b in itertools.pairwise(sizes):
            self.item(
                f"consistency proof {a}->{b}", lambda a=a, b=b: self._consistent(proofs, a, b)
            )

    def _consistent(self, proofs: Mapping[Any, Any], a: int, b: int) -> None:
        if (a, b) not in proofs:
            raise Bad("missing")
        path = [_hash(p, "a proof node") for p in proofs[(a, b)]["proof"]]
        if not verify_consistency(a, b, self.roots[a], self.roots[b], path):
            raise Bad("does not verify: the later head does not extend the earlier one")

    def check_entries(self) -> None:
        entries, window = self.bundle["entries"], self.bundle["window"]
        if not entries:
            self.problems.append("entries: none")
            return
        first = entries[0].get("seq") if isinstance(entries[0], dict) else None
        previous: bytes | None = None
        for n, entry in enumerate(entries):
            expected = first + n if isinstance(first, int) else None
            name = f"entry #{n + 1} (seq {entry.get('seq') if isinstance(entry, dict) else '?'})"
            self.item(name, lambda e=entry, x=expected, p=previous: self._entry(e, x, p))
            previous = self._stored_hash(entry)
        if (first, first + len(entries) - 1 if isinstance(first, int) else None) != (
            window.get("first_seq"),
            window.get("last_seq"),
        ):
            self.problems.append(
                f"window: says seq {window.get('first_seq')}..{window.get('last_seq')}, the "
                f"entries run from {first} for {len(entries)} rows (one missing or added)"
            )

    @staticmethod
    def _stored_hash(entry: Any) -> bytes | None:
        try:
            return _hash(entry["entry_hash"], "entry_hash")
        except (Bad, KeyError, TypeError):
            return None

    def _entry(
        self, entry: Mapping[str, Any], expected: int | None, previous: bytes | None
    ) -> None:
        if entry["seq"] != expected:
            raise Bad(f"expected seq {expected}: entries missing or out of order")
        prev_hash, stored = (
            _hash(entry["prev_hash"], "prev_hash"),
            _hash(entry["entry_hash"], "entry_hash"),
        )
        if entry["seq"] == 1 and prev_hash != GENESIS:
            raise Bad("seq 1 must chain from 32 zero bytes")
        if previous is not None and prev_hash != previous:
            raise Bad("prev_hash is not the previous entry's entry_hash (chain broken)")
        try:
            recomputed = entry_hash(prev_hash, entry)
        except KeyError:
            raise Bad(f"unknown hash_scheme {entry.get('hash_scheme')!r}") from None
        if recomputed != stored:
            raise Bad("entry_hash does not match the entry's contents")

    def check_inclusion(self) -> None:
        proofs = {p.get("seq"): p for p in self.bundle["inclusion"] if isinstance(p, dict)}
        for entry in self.bundle["entries"]:
            seq = entry.get("seq") if isinstance(entry, dict) else None
            self.item(
                f"inclusion proof of seq {seq}", lambda e=entry, s=seq: self._included(proofs, e, s)
            )

    def _included(self, proofs: Mapping[Any, Any], entry: Mapping[str, Any], seq: Any) -> None:
        proof = proofs.get(seq)
        if proof is None:
            raise Bad("missing")
        size = proof["tree_size"]
        if size not in self.roots:
            raise Bad(f"no valid head of tree size {size} in the bundle")
        path = [_hash(p, "a proof node") for p in proof["proof"]]
        leaf = _hash(entry["entry_hash"], "entry_hash")
        if not verify_inclusion(seq - 1, size, leaf, path, self.roots[size]):
            raise Bad(f"does not verify against the head of tree size {size}")
