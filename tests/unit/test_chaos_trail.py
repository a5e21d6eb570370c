"""The chaos runner's loss trail finds the log lines that name a lost event."""

from __future__ import annotations

from pathlib import Path

from scripts.chaos.trail import log_lines


def test_log_lines_names_each_file_and_stops_at_the_limit(tmp_path: Path) -> None:
    (tmp_path / "audit.log").write_text('{"event": "message.dead_lettered", "event_id": "e1"}\n')
    (tmp_path / "identity.log").write_text("".join(f"e1 line {i}\n" for i in range(20)))
    (tmp_path / "booking.log").write_text("nothing here\n")
    found = log_lines(tmp_path, "e1", limit=3)
    assert found[0].startswith("audit.log: ") and "dead_lettered" in found[0]
    assert found[1:] == ["identity.log: e1 line 0", "identity.log: e1 line 1"]
    assert log_lines(tmp_path, "e2") == []
