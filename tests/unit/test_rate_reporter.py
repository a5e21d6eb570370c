"""Long commands say how far they are: a line on stderr at most once a second (issue #23)."""

from __future__ import annotations

from services.ops.replay_publish import RateReporter


def test_a_line_a_second_with_the_rate_and_eta_only_when_a_total_is_known():
    now = [0.0]
    lines: list[str] = []
    exported = RateReporter(None, lines.append, "exported", clock=lambda: now[0], unit="events")
    exported(10)  # within the first second: nothing yet
    now[0] = 2.0
    exported(4_000)
    exported(4_001)  # the same second: nothing more
    assert lines == ["exported 4000, 2000 events/s"]
    published = RateReporter(8_000, lines.append, clock=lambda: now[0])
    now[0] = 4.0
    published(1_000)
    assert lines[-1] == "published 1000/8000 (12%), 500 msg/s, ETA 14s"


def test_a_read_of_known_size_says_its_total_and_eta_on_stderr(capsys):
    from services.cli.rebuild_cmd import TotalProgress

    now = [0.0]
    leaves = TotalProgress("read", "leaves", clock=lambda: now[0])
    leaves(10_000, 1_000_000)  # the first call starts the clock
    now[0] = 2.0
    leaves(200_000, 1_000_000)
    captured = capsys.readouterr()
    assert captured.out == ""  # stdout carries the proof only
    assert captured.err == "read 200000/1000000 (20%), 100000 leaves/s, ETA 8s\n"
