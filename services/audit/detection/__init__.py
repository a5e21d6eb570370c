"""Sync-aware detection D1..D10 over access records, sign-ins and grants (docs/detection.md)."""
