"""An in-process Flower ``Grid``: delivers a ServerApp strategy's messages straight to a
``ClientApp`` in the same process, one node per data partition.

The strategy's own ``start`` loop, its ``configure_train`` / ``aggregate_train`` and the client's
``train`` handler run exactly as they do under Flower's simulation engine or on a SuperLink; only
the transport is a function call (no Ray start-up, no gRPC), which is what makes hundreds of
rounds affordable on 2 cores. Node ids are ``partition-id + 1``.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import uuid4

from flwr.app import Context, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.common.constant import SUPERLINK_NODE_ID
from flwr.serverapp import Grid
from flwr.supercore.task_identity import TaskIdentity


class InProcessGrid(Grid):
    """``n_nodes`` nodes served by ``app``; messages are handled in order, synchronously."""

    def __init__(self, app: ClientApp, n_nodes: int, run_id: int = 1) -> None:
        self.app = app
        self.run_id = run_id
        self.contexts = {pid + 1: Context(run_id=run_id, node_id=pid + 1,
                                          node_config={"partition-id": pid,
                                                       "num-partitions": n_nodes},
                                          state=RecordDict(), run_config={})
                         for pid in range(n_nodes)}
        self._replies: dict[str, Message] = {}
        # what a SuperLink's ServerApp process is told before it builds messages
        TaskIdentity.task_id, TaskIdentity.run_id = 1, run_id
        TaskIdentity.node_id = SUPERLINK_NODE_ID

    @property
    def run(self):
        raise NotImplementedError("the in-process grid has no SuperLink run")

    def set_run(self, run) -> None:
        raise NotImplementedError("the in-process grid has no SuperLink run")

    def create_message(self, content: RecordDict, message_type: str, dst_node_id: int,
                       group_id: str, ttl: float | None = None) -> Message:
        return Message(content=content, dst_node_id=dst_node_id, message_type=message_type,
                       group_id=group_id, ttl=ttl)

    def get_node_ids(self) -> Iterable[int]:
        return list(self.contexts)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for msg in messages:
            msg_id = str(uuid4())
            msg.metadata.__dict__["_message_id"] = msg_id
            self._replies[msg_id] = self.app(msg, self.contexts[msg.metadata.dst_node_id])
            ids.append(msg_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._replies.pop(i) for i in message_ids if i in self._replies]

    def send_and_receive(self, messages: Iterable[Message], *,
                         timeout: float | None = None) -> Iterable[Message]:
        return self.pull_messages(self.push_messages(messages))
