"""The chaos runner counts a resend as the documented crash window only when a kill explains it."""

from __future__ import annotations

from scripts.chaos.mail import in_crash_window


def test_a_kill_between_the_send_and_its_record_explains_one_resend():
    assert in_crash_window([100.0, 120.0], [102.0])


def test_a_kill_just_before_the_sink_stored_the_first_copy_explains_it_too():
    # The sender died with the final "." in its socket; the sink stored the copy 12 ms later.
    assert in_crash_window([100.012, 120.0], [100.0])


def test_a_resend_no_kill_explains_is_a_duplicate():
    assert not in_crash_window([100.0, 120.0], [])
    assert not in_crash_window([100.0, 120.0], [90.0])  # a kill long before the first copy
    assert not in_crash_window([100.0, 120.0], [110.0])  # after the window
    assert not in_crash_window([100.0, 101.0, 120.0], [100.5])  # three copies: never explained
