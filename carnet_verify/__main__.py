"""`python -m carnet_verify BUNDLE [--key ID=BASE64]`: 0 valid, 1 invalid, 2 unreadable."""

from __future__ import annotations

import argparse
import base64
import binascii
import sys
from pathlib import Path

from carnet_verify.check import Checker, Unreadable, load


def _pinned(values: list[str]) -> dict[str, bytes]:
    """--key KEY_ID=BASE64: the audit's public keys as obtained out of band."""
    keys = {}
    for value in values:
        key_id, sep, b64 = value.partition("=")
        try:
            raw = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if not sep or len(raw) != 32:
            raise Unreadable(f"--key {key_id!r}: expected KEY_ID=base64 of a 32-byte Ed25519 key")
        keys[key_id] = raw
    return keys


def main(argv: list[str] | None = None) -> int:
    """Check one bundle; print the verdict (and every problem, the first bad item first)."""
    parser = argparse.ArgumentParser(prog="python -m carnet_verify", description=__doc__)
    parser.add_argument("bundle", type=Path)
    parser.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="KEY_ID=BASE64",
        help="pin the audit's public key (get it from the operator, not from the bundle)",
    )
    args = parser.parse_args(argv)
    try:
        pinned = _pinned(args.key)
        bundle = load(args.bundle)
    except Unreadable as exc:
        print(f"UNREADABLE: {exc}", file=sys.stderr)
        return 2
    problems = Checker(bundle, pinned).run()
    if problems:
        print(f"INVALID: {problems[0]}")
        for problem in problems[1:20]:
            print(f"  also: {problem}")
        if len(problems) > 20:
            print(f"  and {len(problems) - 20} more")
        return 1
    entries, heads = bundle["entries"], bundle["heads"]
    print(
        f"VALID: seq {entries[0]['seq']}..{entries[-1]['seq']} ({len(entries)} entries) under "
        f"{len(heads)} signed head(s), largest tree size {heads[-1]['tree_size']}"
    )
    if not pinned:
        print("note: keys taken from the bundle itself; pin them with --key", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
