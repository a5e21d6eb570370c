"""A private PostgreSQL cluster and a private RabbitMQ node, so faults never touch shared servers.

Other engineers' tests run on this machine's PostgreSQL and RabbitMQ while the runner crashes
its own: each run initialises a throwaway cluster (initdb, trust auth, a free port) and starts
a throwaway RabbitMQ node (own node name, ports, Mnesia and log directories, plugins file),
and removes both at the end, even on failure.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pika
import requests

# Below the ephemeral range: a crashed server's ports must still be free when it restarts.
from tests.support.ports import free_port

RABBIT_SERVER = os.environ.get("CHAOS_RABBITMQ_SERVER", "/usr/lib/rabbitmq/bin/rabbitmq-server")
BROKER_CONF = Path(__file__).resolve().parents[2] / "deploy" / "rabbitmq" / "rabbitmq.conf"


class InfraError(RuntimeError):
    """A private server did not start or stop as asked."""


def _pg_bindir() -> Path:
    """The newest PostgreSQL server binaries: $CHAOS_PG_BINDIR, Debian's layout, else $PATH."""
    if os.environ.get("CHAOS_PG_BINDIR"):
        return Path(os.environ["CHAOS_PG_BINDIR"])
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3])
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    raise InfraError("no pg_ctl found: install PostgreSQL or set CHAOS_PG_BINDIR")


def _as_postgres() -> dict[str, str]:
    """PostgreSQL refuses to run as root: switch to the `postgres` user when we are root."""
    return {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}


@dataclass
class PrivatePostgres:
    """One throwaway cluster under `root`, trust auth, listening on 127.0.0.1:`port` only."""

    root: Path
    port: int = field(default_factory=free_port)
    bindir: Path = field(default_factory=_pg_bindir)

    @property
    def data(self) -> Path:
        """The cluster's data directory."""
        return self.root / "data"

    def url(self, database: str = "carnet") -> str:
        """A superuser URL to one database of this cluster."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 120.0) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, **_as_postgres()
        )
        if done.returncode != 0:
            raise InfraError(f"{args[0]} {args[1:3]} failed: {done.stderr.strip()[-500:]}")

    def init(self) -> None:
        """initdb with trust auth (the cluster listens on loopback only and lives minutes)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")

    def standby(self, root: Path) -> PrivatePostgres:
        """A streaming standby of this running cluster under `root` (pg_basebackup -R), not
        started: what a failover would promote, and what no relay may lead on."""
        replica = PrivatePostgres(root, bindir=self.bindir)
        replica.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(replica.root, "postgres", "postgres")
        replica._run("pg_basebackup", "-D", str(replica.data), "-R", "-X", "stream",
                     "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres")  # fmt: skip
        return replica

    def start(self) -> None:
        """pg_ctl start and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200"
        )
        log = str(self.root / "postgres.log")
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "-t", "90", "start"
        )

    def crash(self) -> None:
        """Stop without a shutdown checkpoint, as a crash would: recovery replays the WAL."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        """Stop for good; a cluster that is already down is fine."""
        if (self.data / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
            except (InfraError, subprocess.TimeoutExpired):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")


@contextlib.contextmanager
def primary_with_standby(prefix: str) -> Iterator[tuple[PrivatePostgres, PrivatePostgres]]:
    """A private primary and its streaming standby, both running; stopped and removed after.

    Not under pytest's 0700 temporary directory: the private PostgreSQL runs as `postgres`.
    """
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    primary, standby = PrivatePostgres(root / "primary"), None
    try:
        primary.init()
        primary.start()
        standby = primary.standby(root / "standby")
        standby.start()
        yield primary, standby
    finally:
        try:
            if standby is not None:
                standby.stop()
        finally:
            primary.stop()
            shutil.rmtree(root, ignore_errors=True)


@dataclass
class PrivateRabbit:
    """One throwaway RabbitMQ node with its own name, ports, Mnesia, logs and plugins file."""

    root: Path
    name: str = field(default_factory=lambda: f"carnet-chaos-{os.getpid()}@localhost")
    amqp_port: int = field(default_factory=free_port)
    management_port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def amqp_uri(self) -> str:
        """The default vhost as guest (allowed on loopback)."""
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    @property
    def management_url(self) -> str:
        """Its management API: `carnet broker setup` applies the policies through it."""
        return f"http://127.0.0.1:{self.management_port}"

    @property
    def pid_file(self) -> Path:
        """Where the node writes its Erlang VM's OS pid."""
        return self.root / "beam.pid"

    def _env(self) -> dict[str, str]:
        """Everything that could clash with the shared node points into `root`."""
        home = self.root / "home"  # the Erlang cookie lives here, not in the shared node's
        return {
            **os.environ,
            "HOME": str(home),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_PID_FILE": str(self.pid_file),
        }

    def init(self) -> None:
        """Write the node's own configuration: loopback listeners on its own ports."""
        (self.root / "home").mkdir(parents=True, exist_ok=True)
        (self.root / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.amqp_port}\n"
            f"management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {self.management_port}\n"
            + BROKER_CONF.read_text()  # Carnet's own settings, as deployed
        )
        (self.root / "rabbitmq-env.conf").write_text("")
        (self.root / "enabled_plugins").write_text("[rabbitmq_management].\n")

    def start(self, timeout: float = 180.0) -> None:
        """Start the node and wait until both AMQP and the management API answer."""
        self.pid_file.unlink(missing_ok=True)
        with open(self.root / "server.log", "ab") as out:
            self.process = subprocess.Popen(
                [RABBIT_SERVER],
                env=self._env(),
                cwd=self.root,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not (self._amqp_answers() and self._management_answers()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise InfraError(f"private RabbitMQ did not start; see {self.root}/server.log")
            time.sleep(0.5)

    def _amqp_answers(self) -> bool:
        try:
            pika.BlockingConnection(pika.URLParameters(self.amqp_uri)).close()
            return True
        except pika.exceptions.AMQPError:
            return False

    def _management_answers(self) -> bool:
        try:
            url = f"{self.management_url}/api/overview"
            return requests.get(url, auth=("guest", "guest"), timeout=3).status_code == 200
        except requests.RequestException:
            return False

    def queue_depths(self, prefix: str) -> dict[str, int]:
        """Messages waiting in each queue whose name starts with `prefix` (the DLQs)."""
        r = requests.get(f"{self.management_url}/api/queues", auth=("guest", "guest"), timeout=10)
        r.raise_for_status()
        return {
            q["name"]: int(q.get("messages", 0))
            for q in r.json()
            if q["name"].startswith(prefix) and q.get("messages")
        }

    def _beam_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def crash(self) -> None:
        """SIGKILL the Erlang VM: unconfirmed publishes and unacked deliveries are cut off."""
        self._signal(signal.SIGKILL, wait=30.0)

    def stop(self) -> None:
        """SIGTERM (a clean shutdown), SIGKILL if it lingers."""
        try:
            self._signal(signal.SIGTERM, wait=60.0)
        except InfraError:
            self._signal(signal.SIGKILL, wait=30.0)

    def _signal(self, sig: signal.Signals, wait: float) -> None:
        """Signal the VM and its wrapper's process group; wait until both are gone."""
        pid = self._beam_pid()
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while (pid is not None and _alive(pid)) or (
            self.process is not None and self.process.poll() is None
        ):
            if time.monotonic() > deadline:
                raise InfraError(f"RabbitMQ node {self.name} did not stop")
            time.sleep(0.2)


def _alive(pid: int) -> bool:
    """Whether a process still exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
