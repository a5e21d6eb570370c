"""The SMTP channel makes its TLS context once, and none for plain SMTP."""

import ssl

from services.notification.channels import SmtpChannel


def test_one_tls_context_per_channel_and_none_without_tls():
    tls = SmtpChannel("smtp.example.test", 587, "Carnet <no-reply@example.test>", "starttls")
    first = tls._tls_context()
    assert isinstance(first, ssl.SSLContext) and first.verify_mode == ssl.CERT_REQUIRED
    assert tls._tls_context() is first
    plain = SmtpChannel("127.0.0.1", 25, "no-reply@example.test", "none")
    assert plain._tls_context() is None
