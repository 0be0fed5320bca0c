"""llm_node, diagnostics_node and http_bridge over real DDS, with the API on a free port."""
from typing import Any, Dict, Optional

import httpx
import rclpy

from claudia_llm.ros.compat import try_shutdown
from claudia_llm.ros.diagnostics_node import DiagnosticsNode
from claudia_llm.ros.http_bridge import HttpBridge
from claudia_llm.ros.llm_node import LlmNode
from claudia_llm.ros.spinning import NodeThreads
from claudia_llm.testing.redis_server import free_port


class HttpStack:
    """The three nodes of ``ros2 launch ... http:=true`` in this process; ``close()`` at the end.

    ``url`` is the bridge's base URL; ``client`` an ``httpx.Client`` on it (timeout 30 s).
    """

    def __init__(self, redis_url: str, ollama_url: str,
                 bridge: Optional[Dict[str, Any]] = None):
        rclpy.init()
        self.nodes = []
        try:
            common = {'redis.url': redis_url, 'ollama.host': ollama_url}
            self.nodes.append(LlmNode(parameter_overrides=dict(common,
                                                               **{'safety.cooldown_s': 0.0})))
            self.nodes.append(DiagnosticsNode(parameter_overrides=dict(
                common, **{'diagnostics.period_s': 0.5})))
            self.port = free_port()
            overrides = {'http.port': self.port, 'http.stats_period_s': 0.5}
            overrides.update(bridge or {})
            self.bridge = HttpBridge(parameter_overrides=overrides)
            self.nodes.append(self.bridge)
        except BaseException:
            self._destroy()
            raise
        self.spinning = NodeThreads(self.nodes)
        self.url = 'http://127.0.0.1:%d' % self.port
        self.client = httpx.Client(base_url=self.url, timeout=30.0)

    def wait_until_bridged(self, timeout_s: float = 10.0) -> None:
        """Wait until the bridge sees llm_node's utterance subscription (discovery)."""
        import time
        deadline = time.monotonic() + timeout_s
        while not self.bridge.node_seen():
            assert time.monotonic() < deadline, 'http_bridge never saw llm_node'
            time.sleep(0.05)

    def say(self, text: str, **fields) -> httpx.Response:
        """POST one utterance as JSON."""
        return self.client.post('/v1/utterances', json=dict(fields, text=text))

    def _destroy(self) -> None:
        for node in reversed(self.nodes):
            node.destroy_node()
        try_shutdown()

    def close(self) -> None:
        """Close the client, stop spinning, destroy the nodes, shut rclpy down."""
        self.client.close()
        self.spinning.shutdown(5.0)
        self._destroy()
