"""A private PgBouncer in transaction pooling in front of the test database (docs/deploy.md)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.support.ports import free_port

ROLES = ("postgres", "carnet_identity", "carnet_booking", "carnet_notification", "carnet_audit")


def binary() -> str | None:
    """pgbouncer on $PATH or where Debian puts it (scripts/ensure-tools.sh installs it)."""
    return shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if os.access("/usr/sbin/pgbouncer", os.X_OK) else None
    )


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def pgbouncer(database_url: str) -> Iterator[str]:
    """Run PgBouncer (transaction pooling, trust) for the URL's database; yield a URL through
    it with the same user. Runs as `postgres` when we are root (it refuses root)."""
    exe = binary()
    assert exe, "pgbouncer is not installed"
    parts = urlsplit(database_url)
    database = parts.path.lstrip("/")
    host, _, port = parts.netloc.rpartition("@")[2].partition(":")
    root = Path(tempfile.mkdtemp(prefix="carnet-pgbouncer-"))
    root.chmod(0o755)
    listen = free_port()
    (root / "users.txt").write_text("".join(f'"{r}" ""\n' for r in ROLES))
    (root / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"{database} = host={host or '127.0.0.1'} port={port or 5432} dbname={database}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {listen}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {root / 'users.txt'}\n"
        "pool_mode = transaction\nmax_client_conn = 200\ndefault_pool_size = 20\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
    )
    for path in root.iterdir():
        path.chmod(0o644)
    user = ["-u", "postgres"] if os.geteuid() == 0 else []
    out = root / "out.log"  # written by us: PgBouncer runs as a user that cannot write here
    with out.open("wb") as sink:
        process = subprocess.Popen([exe, *user, str(root / "pgbouncer.ini")],
                                   stdout=sink, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not _answers(listen):
            if process.poll() is not None or time.monotonic() > deadline:
                said = out.read_text(errors="replace")
                raise RuntimeError(f"pgbouncer did not start: {said[-500:]}")
            time.sleep(0.05)
        netloc = parts.netloc.rpartition("@")[0] + f"@127.0.0.1:{listen}"
        yield urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    finally:
        process.send_signal(signal.SIGINT)  # PgBouncer's "shut down at once"
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)
