"""nameko's WARNING for an RPC's declared refusal becomes one INFO line without a traceback."""

from __future__ import annotations

import logging
import sys

from services.common.logging import ExpectedErrorsAreInfo


def record(level: int, msg: str, with_exc: bool) -> logging.LogRecord:
    exc_info = None
    if with_exc:
        try:
            raise ValueError("suspended")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("nameko.containers", level, __file__, 1, msg, ("w", "e"), exc_info)


def test_an_expected_error_is_demoted_to_info_without_its_traceback():
    logger = logging.getLogger("nameko.containers")
    before = logger.level
    logger.setLevel(logging.INFO)  # as the services run (LOG_LEVEL=INFO)
    try:
        r = record(logging.WARNING, "(expected) error handling worker %s: %s", True)
        assert ExpectedErrorsAreInfo().filter(r)
        assert (r.levelno, r.levelname, r.exc_info) == (logging.INFO, "INFO", None)
    finally:
        logger.setLevel(before)


def test_other_warnings_and_errors_are_left_alone():
    for level, msg in ((logging.WARNING, "something else %s %s"),
                       (logging.ERROR, "error handling worker %s: %s")):  # fmt: skip
        r = record(level, msg, True)
        assert ExpectedErrorsAreInfo().filter(r)
        assert r.levelno == level and r.exc_info is not None


def test_at_warning_level_the_demoted_line_is_not_written():
    logger = logging.getLogger("nameko.containers")
    before = logger.level
    logger.setLevel(logging.WARNING)
    try:
        r = record(logging.WARNING, "(expected) error handling worker %s: %s", True)
        assert not ExpectedErrorsAreInfo().filter(r)
    finally:
        logger.setLevel(before)


def test_every_password_of_a_cluster_uri_is_masked():
    from services.common.logging import scrub_text

    line = scrub_text(
        "Error connecting to broker at amqp://guest:********@127.0.0.1:5701/;"
        "amqp://carnet:s3cret@rabbit-1:5672/;amqp://carnet:s3cret@localhost:5702/"
    )
    assert "s3cret" not in line and line.count("[redacted]@") == 3
    assert "amqp://carnet:[redacted]@localhost:5702/" in line
