"""A running llm_node plus a client node over real DDS, for end-to-end tests."""
import json
import threading
import time
from typing import Any, Dict, List, Optional

import rclpy
from std_msgs.msg import String

from claudia_llm.ros import qos
from claudia_llm.ros.client import UtteranceClient
from claudia_llm.ros.compat import try_shutdown
from claudia_llm.ros.llm_node import LlmNode
from claudia_llm.ros.spinning import NodeThreads


class Stack:
    """llm_node with ``overrides``, an ``UtteranceClient`` and listeners on the outputs.

    ``actions`` and ``replies`` collect every message seen on <namespace>/claudia/action and
    <namespace>/claudia/reply, ``pieces`` every /claudia/reply_partial piece; ``arrivals``
    lists ``(monotonic s, topic kind, payload)`` of action, piece and response messages in
    the order they arrived. ``ros_args`` go to ``rclpy.init`` (e.g. ``--params-file``);
    ``namespace`` is llm_node's (the client stays in the root namespace). Call ``close()``
    at the end.
    """

    def __init__(self, overrides: Dict[str, Any], ros_args: Optional[List[str]] = None,
                 namespace: Optional[str] = None):
        rclpy.init(args=['stack'] + list(ros_args or []))
        self.node = LlmNode(parameter_overrides=overrides, namespace=namespace)
        ns = (namespace or '').rstrip('/')
        self.client = UtteranceClient(ns + '/claudia/utterance', ns + '/claudia/response')
        self.actions: List[Dict[str, Any]] = []
        self.replies: List[str] = []
        self.pieces: List[Dict[str, Any]] = []
        self.arrivals: List[Any] = []
        self._arrival_lock = threading.Lock()
        self.client.create_subscription(String, ns + '/claudia/action',
                                        lambda m: self._arrive('action', m, self.actions),
                                        qos.reliable(10))
        self.client.create_subscription(String, ns + '/claudia/reply_partial',
                                        lambda m: self._arrive('piece', m, self.pieces),
                                        qos.reliable(10))
        self.client.create_subscription(String, ns + '/claudia/response',
                                        lambda m: self._arrive('response', m, None),
                                        qos.reliable(50))
        self.client.create_subscription(String, ns + '/claudia/reply',
                                        lambda m: self.replies.append(m.data), qos.reliable(10))
        self.spinning = NodeThreads([self.node, self.client])
        assert self.client.wait_for_node(10.0), 'llm_node never subscribed'

    def _arrive(self, kind: str, msg: String, into: Optional[List[Any]]) -> None:
        data = json.loads(msg.data)
        with self._arrival_lock:
            self.arrivals.append((time.monotonic(), kind, data))
            if into is not None:
                into.append(data)

    def arrivals_for(self, request_id: str) -> List[Any]:
        """``(monotonic s, kind, payload)`` of ``request_id``'s messages, in arrival order."""
        with self._arrival_lock:
            return [a for a in self.arrivals if a[2].get('request_id') == request_id]

    def ask(self, text: str, timeout_s: float = 20.0, priority: str = 'normal'):
        return self.client.ask(text, timeout_s, priority)

    def action_names(self, request_id: str) -> List[List[str]]:
        return [[a['name'] for a in msg['actions']] for msg in list(self.actions)
                if msg['request_id'] == request_id]

    def close(self) -> None:
        self.spinning.shutdown(5.0)
        self.client.destroy_node()
        self.node.destroy_node()
        try_shutdown()
