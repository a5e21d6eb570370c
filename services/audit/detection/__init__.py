"""Sync-aware detection D1..D9 over access records, sign-ins and grants (docs/detection.md)."""
