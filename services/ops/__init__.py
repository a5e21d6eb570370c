"""Operator tooling the `carnet` CLI runs: replay (stream, export, import, re-publish), rebuilds
beside the live tables (ADR 0011) and dead letters (list, show, requeue, drop). No service
imports it: it is not part of their runtime."""
