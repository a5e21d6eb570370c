"""Shared runtime: config, logging, event store, relay, inbox.

Only `services.common.nameko_ext` may import nameko or eventlet (docs/adr/0001): the rest
must run unchanged under another entrypoint layer.
"""
