"""Faults under load (issue #10): crash every part of Carnet in turn while clients book, then
reconcile. Run it with `make chaos`; tests/chaos runs a short form. docs/reliability.md."""
