"""carnet_verify: check a Carnet audit export bundle with no database and no Carnet code.

Standard library, `cryptography` (Ed25519) and `rfc8785` (JSON Canonicalization Scheme) only,
on purpose: this is what an outside party runs, so it re-implements the few rules it needs
(docs/audit.md "Entry format", RFC 9162 §2.1) instead of importing the code it checks.

    python -m carnet_verify BUNDLE [--key KEY_ID=BASE64 ...]

Exit 0: valid. 1: invalid, the first bad item named. 2: the bundle could not be read.
"""

FORMAT = "carnet-audit-bundle/1"
