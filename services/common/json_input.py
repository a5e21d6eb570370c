"""Bodies and events read strictly: what json.loads lets through but PostgreSQL or JSON refuse.

Python's json accepts NaN and Infinity (not JSON), numbers that overflow a float, integers
longer than Python converts (a ValueError past 4,300 digits), lone surrogates such as "\\ud800" (not
encodable as UTF-8) and "\\u0000" (refused by PostgreSQL's text and jsonb), and raises
RecursionError, not a decode error, on deep nesting. Each of those reached the store as a 500;
here each is a BadJson the HTTP edges answer with a 400 and consumers dead-letter
(`malformed-json`): an event raising RecursionError in a consumer killed its whole container.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import math
import threading
from collections.abc import Iterator
from typing import Any

_pause_lock = threading.Lock()
_pausing = 0  # parses under way with collection paused
_was_enabled = True
MAX_DEPTH = 32  # far deeper than any body the services accept
MAX_DIGITS = 32  # an integer beyond 10**32 is no count, id or duration any service takes


class BadJson(ValueError):
    """The body is not JSON the services can store; the message says why, without the data."""


def _reject_constant(name: str) -> Any:
    raise BadJson(f"{name} is not JSON")


# What Python converts at all (sys.get_int_max_str_digits): events are read up to it, since
# PostgreSQL writes a large jsonb number (a float of 1e32 and more) as a long integer.
PYTHON_DIGITS = 4300


def _integer(text: str, max_digits: int = MAX_DIGITS) -> int:
    """Python refuses to convert more than 4,300 digits with a ValueError (a 500): refuse first."""
    if len(text.lstrip("-")) > max_digits:
        raise BadJson(f"an integer has more than {max_digits} digits")
    return int(text)


def _number(text: str) -> float:
    """A JSON number that overflows a float (1e999) would be stored as Infinity, not JSON."""
    value = float(text)
    if not math.isfinite(value):
        raise BadJson("a number is too large")
    return value


def unstorable_text(text: str) -> str | None:
    """Why `text` cannot be stored (a NUL, a lone surrogate), or None when it can."""
    if "\x00" in text:
        return "a string holds a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "a string holds a lone surrogate"
    return None


def storable_text(value: str, limit: int) -> str:
    """Request text as PostgreSQL's jsonb takes it: at most `limit` characters, no NUL, no lone
    surrogate (a hostile header or path must still leave its record, not a 500 or a 503)."""
    value = value[:limit]
    if value.isascii() and "\x00" not in value:
        return value
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


def _check(value: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise BadJson(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        reason = unstorable_text(value)
        if reason:
            raise BadJson(reason)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check(key, depth + 1)
            _check(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check(item, depth + 1)


def parse_json(raw: bytes | str, max_digits: int = MAX_DIGITS) -> Any:
    """The JSON value of a UTF-8 body, or BadJson (never RecursionError or a surrogate).

    kombu hands a consumer its body as text when it could decode it, else as bytes.
    """
    try:
        text = raw if isinstance(raw, str) else bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise BadJson("body is not UTF-8") from None
    with _collection_paused():
        return _parse(text, max_digits)


@contextlib.contextmanager
def _collection_paused() -> Iterator[None]:
    """No collection while the parser recurses: one triggered at the depth where a hostile body
    raises RecursionError runs finalisers that fail there too ("Exception ignored" for each,
    seen as a failed test setup). Counted under a lock: parses in several OS threads at once
    resume collection only when the last one ends, and only if it was on before the first."""
    global _pausing, _was_enabled
    with _pause_lock:
        if _pausing == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pausing += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pausing -= 1
            if _pausing == 0 and _was_enabled:
                gc.enable()


def _parse(text: str, max_digits: int) -> Any:
    """json.loads with Carnet's strict number and constant rules, then the value checks."""
    try:
        value = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_int=functools.partial(_integer, max_digits=max_digits),
            parse_float=_number,
        )
    except json.JSONDecodeError as error:
        raise BadJson(f"body is not JSON: {error.msg} at position {error.pos}") from None
    except RecursionError:
        raise BadJson(f"nested deeper than {MAX_DEPTH} levels") from None
    _check(value, 0)
    return value
