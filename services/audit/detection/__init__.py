"""Continuous detection rules D1..D6 over access records and sign-ins (docs/audit.md)."""
