"""`@rpc` on a quorum queue: an RPC server's requests survive the loss of a broker node.

nameko declares each service's request queue `rpc-<service>` as a classic queue, which lives on
one node: on a cluster, that node's loss stops every call to the service (booking's token
checks included) until it returns. This entrypoint declares `carnet.rpc.<service>` as a quorum
queue (replicated on every node of a three-node cluster), bound to the same exchange and keys,
so callers change nothing. Replies still go to each caller's own reply queue, which the caller
declares again after a reconnection (docs/deploy.md "RabbitMQ").
"""

from __future__ import annotations

from kombu import Queue
from nameko.rpc import Rpc, RpcConsumer, get_rpc_exchange

RPC_QUEUE_PREFIX = "carnet.rpc."


def rpc_queue_name(service: str) -> str:
    """The quorum queue a service's RPC requests wait in."""
    return f"{RPC_QUEUE_PREFIX}{service}"


class QuorumRpcConsumer(RpcConsumer):
    """nameko's RpcConsumer with its request queue declared as a quorum queue."""

    def setup(self) -> None:
        """As nameko's, but `carnet.rpc.<service>` with `x-queue-type: quorum`."""
        if self.queue is None:
            service = self.container.service_name
            self.queue = Queue(
                rpc_queue_name(service),
                exchange=get_rpc_exchange(self.container.config),
                routing_key=f"{service}.*",
                durable=True,
                queue_arguments={"x-queue-type": "quorum"},
            )
            self.queue_consumer.register_provider(self)
            self._registered = True


class QuorumRpc(Rpc):
    """`@rpc` whose requests wait in a quorum queue."""

    rpc_consumer = QuorumRpcConsumer()


rpc = QuorumRpc.decorator
