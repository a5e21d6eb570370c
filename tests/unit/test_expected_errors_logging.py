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
    r = record(logging.WARNING, "(expected) error handling worker %s: %s", True)
    assert ExpectedErrorsAreInfo().filter(r)
    assert (r.levelno, r.levelname, r.exc_info) == (logging.INFO, "INFO", None)


def test_other_warnings_and_errors_are_left_alone():
    for level, msg in ((logging.WARNING, "something else %s %s"),
                       (logging.ERROR, "error handling worker %s: %s")):  # fmt: skip
        r = record(level, msg, True)
        assert ExpectedErrorsAreInfo().filter(r)
        assert r.levelno == level and r.exc_info is not None
