"""Fixtures of the security suites, each from the module that owns it."""

from tests.security.http_stack import security_http_stack  # noqa: F401 (one stack per run)
