"""A private three-node RabbitMQ cluster on this machine, for faults a single node cannot show.

Each node is a `PrivateRabbit` (own name, ports, Mnesia, logs, HOME) with the same random
Erlang cookie, so they may cluster; node 0 boots alone, the others boot and `join_cluster` it
(stop_app / join_cluster / start_app), as an operator would. `start()` returns only once every
node runs in the cluster, so a quorum queue declared then gets a member on each node.

Partitions. All nodes live on loopback and register with the machine's one epmd (127.0.0.1
only, shared with the machine's broker: never touched), so node names stay `<name>@localhost`
and every distribution listener stays on 127.0.0.1. A port alone cannot say who sent a
packet (outgoing distribution connections come from ephemeral ports), so each node makes its
outgoing distribution connections from its own loopback address (127.0.0.11, .12, ...;
`inet_dist_connect_options`): a packet between nodes i and j is then either from i's address
to j's distribution port or from j's address to i's, or the replies of those. `partition(i)`
DROPs exactly those, both directions, for i against every other node, in a chain of our own
jumped to from INPUT on `lo` (every loopback packet passes INPUT; dropping there is a silent
loss, as on a real network, where dropping in OUTPUT would fail the sender's send at once).
AMQP, management and CLI traffic (from 127.0.0.1) and other clusters' ports are never
matched. `stop()` deletes the jump and the chain, and nothing else.

What the cut node does. `net_ticktime` is 10 s, so within ~10-15 s each side sees the other
gone. With `cluster_partition_handling = pause_minority`, node i sees 1 of 3 nodes and
pauses: its rabbit application stops (AMQP and management listeners close, its clients are
disconnected and reconnect elsewhere) while its Erlang VM keeps polling the others; the two
others keep a majority, stay up and keep serving quorum queues. Once healed it sees the
majority again, restarts its application, resyncs from the majority and runs again.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

from scripts.chaos.infra import RABBIT_SERVER, InfraError, PrivateRabbit

RABBITMQCTL = str(Path(RABBIT_SERVER).with_name("rabbitmqctl"))
IPTABLES = os.environ.get("CHAOS_IPTABLES", "/usr/sbin/iptables")
NET_TICKTIME = 10  # seconds: a partition is noticed in ~10-15 s rather than the default 60-75
CLUSTER_CONF = ("cluster_partition_handling = pause_minority",)


@dataclass
class ClusterNode(PrivateRabbit):
    """A PrivateRabbit that shares a cookie and dials other nodes from its own loopback address."""

    cookie: str = ""
    address: str = "127.0.0.1"

    def _env(self) -> dict[str, str]:
        """The node's env plus the Erlang args the cluster needs (server and CLI alike)."""
        ip = "{" + self.address.replace(".", ",") + "}"
        server = (
            f"-kernel net_ticktime {NET_TICKTIME} -kernel inet_dist_use_interface {{127,0,0,1}}"
            f" -kernel inet_dist_connect_options [{{ip,{ip}}}]"
        )
        return {
            **super()._env(),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": server,
            "RABBITMQ_CTL_ERL_ARGS": f"-kernel net_ticktime {NET_TICKTIME}",
        }

    def init(self) -> None:
        """PrivateRabbit's files, the shared cookie (0400, as Erlang demands) and cluster conf."""
        super().init()
        cookie = self.root / "home" / ".erlang.cookie"
        with contextlib.suppress(FileNotFoundError):
            cookie.chmod(0o600)
        cookie.write_text(self.cookie)
        cookie.chmod(0o400)
        with open(self.root / "rabbitmq.conf", "a") as conf:
            conf.write("".join(f"{line}\n" for line in CLUSTER_CONF))

    def await_serving(self, deadline: float) -> None:
        """Wait until AMQP and the management API answer again (start_app returns before)."""
        while not (self._amqp_answers() and self._management_answers()):
            if time.monotonic() > deadline:
                raise InfraError(f"{self.name} does not serve; see {self.root}/log")
            time.sleep(0.5)

    def ctl(self, *args: str, timeout: float = 120.0) -> str:
        """rabbitmqctl against this node only (never the machine's shared node)."""
        done = subprocess.run(
            [RABBITMQCTL, "-n", self.name, *args],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise InfraError(f"rabbitmqctl {args[0]} on {self.name}: {done.stderr.strip()[-500:]}")
        return done.stdout


class RabbitCluster:
    """`size` ClusterNodes under `root`, clustered, with crash, restart and partition faults."""

    def __init__(self, root: Path, size: int = 3) -> None:
        tag = f"{os.getpid()}-{secrets.token_hex(2)}"
        cookie = secrets.token_hex(16).upper()
        self.root = root
        self.nodes: list[PrivateRabbit] = [
            ClusterNode(
                root / f"node{i}",
                name=f"carnet-cluster-{tag}-{i}@localhost",
                cookie=cookie,
                address=f"127.0.0.{11 + i}",
            )
            for i in range(size)
        ]
        self.chain = f"CARNET-CHAOS-{tag}"  # iptables allows 28 characters: this is <= 25
        self._rules: dict[int, list[list[str]]] = {}
        self._chain_made = False
        self._down: set[int] = set(range(size))  # not started yet, stopped or crashed
        self._lock = threading.Lock()

    def _node(self, i: int) -> ClusterNode:
        """Node i with its cluster fields (nodes is typed as the PrivateRabbits it holds)."""
        node = self.nodes[i]
        assert isinstance(node, ClusterNode)
        return node

    def start(self, timeout: float = 240) -> None:
        """Boot every node at once (the slow part), then join 1.. to node 0 one at a time."""
        deadline = time.monotonic() + timeout
        for i in range(len(self.nodes)):
            self._node(i).init()
        self._each(range(len(self.nodes)), lambda i: self._boot(i, deadline))
        joiners = list(range(1, len(self.nodes)))
        # stop_app and start_app are the slow steps, and independent: in parallel. Joins change
        # the cluster's membership (Mnesia schema), so one at a time.
        self._each(joiners, lambda i: self._node(i).ctl("stop_app"))
        for i in joiners:
            self._node(i).ctl("join_cluster", self.nodes[0].name)
        self._each(joiners, lambda i: self._node(i).ctl("start_app"))
        self.await_running(set(range(len(self.nodes))), deadline - time.monotonic())
        self._each(joiners, lambda i: self._node(i).await_serving(deadline))

    def _boot(self, i: int, deadline: float) -> None:
        """Start node i's server; from then on stop() owns it, whatever start() does next."""
        self._down.discard(i)
        self.nodes[i].start(timeout=max(deadline - time.monotonic(), 1.0))

    def _each(self, indexes: range | list[int], work: Callable[[int], None]) -> None:
        """Run `work(i)` for every index in threads; re-raise the first failure after all end."""
        errors: list[BaseException] = []

        def run(i: int) -> None:
            try:
                work(i)
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=run, args=(i,)) for i in indexes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    @property
    def amqp_uris(self) -> list[str]:
        """One AMQP URI per node, node 0 first."""
        return [node.amqp_uri for node in self.nodes]

    @property
    def amqp_uri(self) -> str:
        """kombu's failover form: a client tries the next node when one refuses."""
        return ";".join(self.amqp_uris)

    def _serving(self) -> int:
        """A node that should answer: neither stopped nor cut off (node 0 if it can)."""
        for i in range(len(self.nodes)):
            if i not in self._down and i not in self._rules:
                return i
        raise InfraError("no cluster node is up")

    @property
    def management_url(self) -> str:
        """The management API of a node that is up, node 0 unless it is stopped or cut off."""
        return self.nodes[self._serving()].management_url

    def queue_depths(self, prefix: str) -> dict[str, int]:
        """Messages waiting per queue named `prefix`..., as any serving node sees the cluster."""
        return self.nodes[self._serving()].queue_depths(prefix)

    def queue(self, name: str, vhost: str = "/") -> dict[str, object]:
        """One queue as the management API shows it (type, leader, members, messages)."""
        url = f"{self.management_url}/api/queues/{requests.utils.quote(vhost, safe='')}/{name}"
        r = requests.get(url, auth=("guest", "guest"), timeout=10)
        r.raise_for_status()
        return dict(r.json())

    def running(self, via: int | None = None) -> set[str]:
        """Names of the nodes running in the cluster, as node `via` (a serving one) sees it."""
        node = self._node(self._serving() if via is None else via)
        status = json.loads(node.ctl("cluster_status", "--formatter", "json", timeout=30))
        return set(status.get("running_nodes", []))

    def await_running(self, expected: set[int], timeout: float = 120) -> None:
        """Wait until a serving node sees exactly the nodes `expected` running."""
        names = {self.nodes[i].name for i in expected}
        deadline = time.monotonic() + timeout
        seen: set[str] | str = set()
        while True:
            try:
                seen = self.running()
                if seen == names:
                    return
            except (InfraError, subprocess.TimeoutExpired) as error:
                seen = str(error)
            if time.monotonic() > deadline:
                raise InfraError(f"cluster: expected {sorted(names)} running, saw {seen}")
            time.sleep(1.0)

    def stop_node(self, i: int) -> None:
        """SIGKILL node i's Erlang VM (PrivateRabbit.crash): a crash, nothing flushed or handed
        over, so what survives is only what the cluster replicated."""
        if i in self._down:
            return  # never signal a pid from an old pid file: it may be someone else's now
        self.nodes[i].crash()
        self._down.add(i)

    def start_node(self, i: int, timeout: float = 180) -> None:
        """Boot node i again on its Mnesia directory: it rejoins by itself; wait until it runs."""
        if i not in self._down:
            raise InfraError(f"{self.nodes[i].name} is already running")
        deadline = time.monotonic() + timeout
        self._boot(i, deadline)
        self.await_running(self._up() - set(self._rules), deadline - time.monotonic())

    def _up(self) -> set[int]:
        """Nodes started and not stopped since (a cut node is up, only paused)."""
        return set(range(len(self.nodes))) - self._down

    def _iptables(self, *args: str, check: bool = True) -> bool:
        """One iptables call, waiting for the xtables lock rather than failing on it."""
        done = subprocess.run([IPTABLES, "-w", "10", *args], capture_output=True, text=True)
        if check and done.returncode != 0:
            raise InfraError(f"iptables {' '.join(args)}: {done.stderr.strip()}")
        return done.returncode == 0

    def partition(self, i: int) -> None:
        """Cut node i's distribution traffic from every other node, both ways (module doc)."""
        if i in self._rules:
            return
        with self._lock:
            if not self._chain_made:
                self._iptables("-N", self.chain)
                self._chain_made = True
                self._iptables("-I", "INPUT", "1", "-i", "lo", "-j", self.chain)
        me = self._node(i)
        rules: list[list[str]] = []
        self._rules[i] = rules  # before adding: stop() removes even a half-made cut
        for j in range(len(self.nodes)):
            if j == i:
                continue
            other = self._node(j)
            for src, dst in ((me, other), (other, me)):
                port = str(dst.dist_port)
                rules.append(["-s", src.address, "-p", "tcp", "--dport", port, "-j", "DROP"])
                rules.append(["-d", src.address, "-p", "tcp", "--sport", port, "-j", "DROP"])
        for rule in rules:
            self._iptables("-A", self.chain, *rule)

    def heal(self, i: int, timeout: float = 180) -> None:
        """Remove the rules partition(i) added, then wait until node i runs and serves again."""
        deadline = time.monotonic() + timeout
        for rule in self._rules.pop(i, []):
            self._iptables("-D", self.chain, *rule, check=False)
        self.await_running(self._up() - set(self._rules), timeout)
        if i not in self._down:
            self._node(i).await_serving(deadline)

    def _remove_chain(self) -> None:
        """Delete our jump and our chain; other chains are never flushed nor edited."""
        self._rules.clear()
        if not self._chain_made:
            return
        while self._iptables("-D", "INPUT", "-i", "lo", "-j", self.chain, check=False):
            pass
        self._iptables("-F", self.chain, check=False)
        self._iptables("-X", self.chain, check=False)
        self._chain_made = False

    def stop(self) -> None:
        """Remove every rule of ours and stop every node; safe after a failure, and twice."""
        try:
            self._remove_chain()
        finally:
            up = sorted(self._up())
            self._down.update(up)
            self._each(up, lambda i: self.nodes[i].stop())
