"""`carnet logs trace`: one correlation or trace id's lines from files, directories or stdin."""

import json

from click.testing import CliRunner

from services.cli.main import cli


def line(ts, service, event, correlation_id, level="info", **fields):
    return json.dumps(
        {
            "timestamp": ts,
            "level": level,
            "service.name": service,
            "event": event,
            "correlation_id": correlation_id,
            "causation_id": fields.pop("causation_id", None),
            **fields,
        }
    )


BOOKING = [
    line(
        "2026-01-05T10:00:00.100000Z", "booking", "http.request", "c-1", route="/fhir/Appointment"
    ),
    "eventlet banner, not JSON",
    line(
        "2026-01-05T10:00:00.050000Z", "booking", "appointment.booked", "c-1", appointment_id="a1"
    ),
    line("2026-01-05T10:00:00.060000Z", "booking", "http.request", "c-2", route="/fhir/Slot"),
]
IDENTITY = [
    line(
        "2026-01-05T10:00:00.020000Z", "identity", "rpc.handled", "c-1", entrypoint="authenticate"
    ),
    "[1, 2]",
]
AUDIT = [
    line(
        "2026-01-05T10:00:00.300000Z",
        "audit",
        "ledger.appended",
        "c-1",
        seq=7,
        event_id="e-1",
        causation_id=None,
    ),
    line("2026-01-05T10:00:01.000000Z", "audit", "detection.ran", "c-9", causation_id="e-1"),
    line("2026-01-05T10:00:02.000000Z", "audit", "detection.ran", "c-9", causation_id="e-other"),
]


def logs(tmp_path):
    folder = tmp_path / "log"
    folder.mkdir()
    for name, lines in (("booking", BOOKING), ("identity", IDENTITY), ("audit", AUDIT)):
        (folder / f"{name}.log").write_text("\n".join(lines) + "\n")
    (folder / "notes.txt").write_text(line("2026-01-05T09:00:00Z", "x", "ignored", "c-1") + "\n")
    return folder


def run(*args, stdin=None):
    return CliRunner().invoke(cli, ["logs", "trace", *args], input=stdin)


def test_a_directory_means_its_log_files_sorted_by_timestamp_compact(tmp_path):
    result = run("c-1", str(logs(tmp_path)))
    assert result.exit_code == 0, result.stderr
    out = result.stdout.splitlines()
    assert [x.split()[:4] for x in out] == [
        ["2026-01-05T10:00:00.020000Z", "identity", "info", "rpc.handled"],
        ["2026-01-05T10:00:00.050000Z", "booking", "info", "appointment.booked"],
        ["2026-01-05T10:00:00.100000Z", "booking", "info", "http.request"],
        ["2026-01-05T10:00:00.300000Z", "audit", "info", "ledger.appended"],
    ]
    assert out[0].endswith(" entrypoint=authenticate")  # other keys as k=v, nulls left out
    assert "correlation_id" not in result.stdout and "causation_id" not in result.stdout
    assert "seq=7 event_id=e-1" in out[3]
    assert "ignored" not in result.stdout  # only *.log files of a directory
    assert "skipped 2 non-JSON line(s)" in result.stderr
    assert "4 line(s) from audit, booking, identity" in result.stderr


def test_files_and_json_output_print_the_lines_as_read(tmp_path):
    folder = logs(tmp_path)
    result = run("c-1", "--json", str(folder / "booking.log"), str(folder / "identity.log"))
    assert result.exit_code == 0
    printed = [json.loads(x) for x in result.stdout.splitlines()]
    assert [p["event"] for p in printed] == ["rpc.handled", "appointment.booked", "http.request"]
    assert result.stdout.splitlines()[1] == BOOKING[2]


def test_a_file_named_twice_is_read_once(tmp_path):
    folder = logs(tmp_path)
    twice = run("c-1", str(folder), str(folder / "audit.log"), str(folder / "." / "audit.log"))
    assert [x.split()[3] for x in twice.stdout.splitlines()].count("ledger.appended") == 1


def test_stdin_when_no_file_is_given():
    result = run("c-2", stdin="\n".join(BOOKING + IDENTITY) + "\n")
    assert result.exit_code == 0
    (only,) = result.stdout.splitlines()
    assert only.split()[1:4] == ["booking", "info", "http.request"] and "route=/fhir/Slot" in only
    assert "skipped 2 non-JSON line(s)" in result.stderr


def test_follow_causation_adds_the_lines_an_event_of_the_trace_caused(tmp_path):
    folder = logs(tmp_path)
    plain = run("c-1", str(folder))
    followed = run("c-1", "--follow-causation", str(folder))
    assert "detection.ran" not in plain.stdout
    (caused,) = [x for x in followed.stdout.splitlines() if "detection.ran" in x]
    assert "causation_id=e-1" in caused and "correlation_id=c-9" in caused
    assert "e-other" not in followed.stdout


def test_values_with_spaces_are_quoted_and_nothing_found_exits_1(tmp_path):
    text = line("2026-01-05T10:00:00Z", "audit", "x.y", "c-3", detail="two words", n=None, ok=True)
    result = run("c-3", stdin=text + "\n")
    assert result.stdout.strip().endswith('detail="two words" ok=true')
    missing = run("nope", stdin=text + "\n")
    assert missing.exit_code == 1
    assert "no line with correlation_id or trace_id nope" in missing.stderr


def test_lines_without_a_timestamp_sort_last_in_reading_order():
    lines = [
        json.dumps({"event": "late", "correlation_id": "c-4"}),
        line("2026-01-05T10:00:00+00:00", "booking", "early", "c-4"),
        json.dumps({"event": "later", "correlation_id": "c-4", "timestamp": "garbage"}),
    ]
    result = run("c-4", stdin="\n".join(lines))
    assert [x.split()[3] for x in result.stdout.splitlines()] == ["early", "late", "later"]


def test_a_trace_id_finds_the_lines_of_every_correlation_id_in_that_trace():
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    lines = [
        line("2026-01-05T10:00:00Z", "booking", "http.request", "c-5", trace_id=trace_id),
        line("2026-01-05T10:00:01Z", "notification", "notification.sent", "c-6", trace_id=trace_id),
        line("2026-01-05T10:00:02Z", "audit", "other", "c-7", trace_id="f" * 32),
    ]
    result = run(trace_id, stdin="\n".join(lines) + "\n")
    assert result.exit_code == 0
    assert [x.split()[1] for x in result.stdout.splitlines()] == ["booking", "notification"]
    assert trace_id not in result.stdout  # the traced id itself is left out, as a correlation id


def test_lines_written_before_the_otel_field_names_still_name_their_service():
    old = json.dumps({"timestamp": "2026-01-05T10:00:00Z", "level": "info", "service": "audit",
                      "event": "ledger.appended", "correlation_id": "c-8"})  # fmt: skip
    result = run("c-8", stdin=old + "\n")
    assert result.stdout.split()[1:4] == ["audit", "info", "ledger.appended"]
    assert "service=" not in result.stdout and "from audit" in result.stderr
