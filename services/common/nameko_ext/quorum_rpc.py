"""`@rpc` on a quorum queue: an RPC server's requests survive the loss of a broker node.

nameko declares each service's request queue `rpc-<service>` as a classic queue, which lives on
one node: on a cluster, that node's loss stops every call to the service (booking's token
checks included) until it returns. This entrypoint declares `carnet.rpc.<service>` as a quorum
queue (replicated on every node of a three-node cluster), bound to the same exchange and keys,
so callers change nothing. Replies go to each caller's own reply queue, exclusive to its
connection, which the caller declares again on the node it reconnects to (docs/deploy.md).

Both bind to nameko's exchange with a passive declare: a service's broker user may not
configure the exchange every service shares (broker_users.py); `carnet broker setup` declares it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from kombu import Exchange, Queue
from nameko.constants import RPC_EXCHANGE_CONFIG_KEY
from nameko.rpc import (
    RPC_REPLY_QUEUE_TEMPLATE,
    RPC_REPLY_QUEUE_TTL,
    ReplyListener,
    Rpc,
    RpcConsumer,
)

from services.common.broker import RPC_EXCHANGE, RPC_QUEUE_PREFIX


def rpc_queue_name(service: str) -> str:
    """The quorum queue a service's RPC requests wait in."""
    return f"{RPC_QUEUE_PREFIX}{service}"


def rpc_exchange(config: Mapping[str, Any]) -> Exchange:
    """nameko's RPC exchange, declared passively: it must exist, we may not create it."""
    name = config.get(RPC_EXCHANGE_CONFIG_KEY, RPC_EXCHANGE)
    return Exchange(name, type="topic", durable=True, passive=True)


class QuorumRpcConsumer(RpcConsumer):
    """nameko's RpcConsumer with its request queue declared as a quorum queue."""

    def setup(self) -> None:
        """As nameko's, but `carnet.rpc.<service>` with `x-queue-type: quorum`."""
        if self.queue is None:
            service = self.container.service_name
            self.queue = Queue(
                rpc_queue_name(service),
                exchange=rpc_exchange(self.container.config),
                routing_key=f"{service}.*",
                durable=True,
                queue_arguments={"x-queue-type": "quorum"},
            )
            self.queue_consumer.register_provider(self)
            self._registered = True


class QuorumRpc(Rpc):
    """`@rpc` whose requests wait in a quorum queue."""

    rpc_consumer = QuorumRpcConsumer()


class PassiveReplyListener(ReplyListener):
    """nameko's reply listener, bound to the RPC exchange without declaring it, on a queue
    exclusive to its connection: nameko's is durable, so a caller whose node died could not
    declare it again elsewhere ("home node is down") and every call failed until it returned."""

    def setup(self) -> None:
        """`rpc.reply-<service>-<uuid>`, gone with its connection, declared again on the next."""
        reply_queue_uuid = uuid.uuid4()
        self.routing_key = str(reply_queue_uuid)
        self.queue = Queue(
            RPC_REPLY_QUEUE_TEMPLATE.format(self.container.service_name, reply_queue_uuid),
            exchange=rpc_exchange(self.container.config),
            routing_key=self.routing_key,
            durable=False,
            exclusive=True,
            auto_delete=True,
            queue_arguments={"x-expires": RPC_REPLY_QUEUE_TTL},
        )
        self.queue_consumer.register_provider(self)


rpc = QuorumRpc.decorator
