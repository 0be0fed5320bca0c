"""The bench's ROS side: publishes utterances, collects records, actions and diagnostics."""
import json
import struct
import threading
import time
from typing import Any, Dict, List, Tuple

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from std_msgs.msg import String

from claudia_llm.ros import qos

LEVEL_NAMES = {0: 'OK', 1: 'WARN', 2: 'ERROR', 3: 'STALE'}


def cdr_string(data: bytes) -> bytes:
    """A serialized ``std_msgs/String`` (CDR, little endian) holding ``data`` as it is.

    rclpy encodes ``str`` to UTF-8 before publishing, so invalid UTF-8 can only travel as
    a serialized message: encapsulation header, uint32 length with the NUL, bytes, NUL.
    """
    return b'\x00\x01\x00\x00' + struct.pack('<I', len(data) + 1) + data + b'\x00'


class Collector(Node):
    """Publisher of the utterance topic; every record, action and diagnostic arrival.

    Args:
        topics: ``{topics.* name: topic}`` of the node under test.
        diagnostics_topic: where that node's ``/diagnostics`` is remapped to.
        depth: history depth of the utterance publisher and of every subscription here
            (a burst must not be lost on our side).
    """

    def __init__(self, topics: Dict[str, str], diagnostics_topic: str, depth: int = 1000,
                 best_effort: bool = False):
        super().__init__('bench_collector')
        profile = qos.reliable(depth)
        if best_effort:
            from rclpy.qos import QoSReliabilityPolicy
            profile.reliability = QoSReliabilityPolicy.BEST_EFFORT
        self._pub = self.create_publisher(String, topics['topics.utterance'], profile)
        self._lock = threading.Lock()
        self.records: List[Tuple[float, Dict[str, Any]]] = []
        self.actions: List[Tuple[float, Dict[str, Any]]] = []
        self.statuses: Dict[str, Dict[str, Any]] = {}
        self.create_subscription(String, topics['topics.response'], self.response_callback,
                                 qos.reliable(depth))
        self.create_subscription(String, topics['topics.action'], self.action_callback,
                                 qos.reliable(depth))
        self.create_subscription(DiagnosticArray, diagnostics_topic, self.diagnostics_callback,
                                 qos.reliable(10))
        self.spinner = SingleThreadedExecutor()
        self.spinner.add_node(self)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            self.spinner.spin()
        except Exception:  # noqa: BLE001 - the context shuts down under it at the end
            pass

    def response_callback(self, msg: String) -> None:
        record = json.loads(msg.data)
        with self._lock:
            self.records.append((time.monotonic(), record))

    def action_callback(self, msg: String) -> None:
        action = json.loads(msg.data)
        with self._lock:
            self.actions.append((time.monotonic(), action))

    def diagnostics_callback(self, msg: DiagnosticArray) -> None:
        with self._lock:
            for status in msg.status:
                level = status.level
                level = level[0] if isinstance(level, (bytes, bytearray)) else int(level)
                self.statuses[status.name] = {
                    'level': LEVEL_NAMES.get(level, str(level)), 'message': status.message,
                    'values': {kv.key: kv.value for kv in status.values},
                    't': time.monotonic()}

    def subscribers(self) -> int:
        """Subscriptions matched on the utterance topic."""
        return self._pub.get_subscription_count()

    def publish_envelope(self, text: str, request_id: str, seq: int) -> None:
        """Publish ``{"text", "id", "source": "bench", "seq"}``."""
        self._pub.publish(String(data=json.dumps(
            {'text': text, 'id': request_id, 'source': 'bench', 'seq': seq},
            ensure_ascii=False)))

    def publish_raw(self, raw: Any) -> None:
        """Publish ``raw`` as it is: ``str`` as a String, ``bytes`` serialized unchanged."""
        if isinstance(raw, bytes):
            self._pub.publish(cdr_string(raw))
        else:
            self._pub.publish(String(data=raw))

    def mark(self) -> Tuple[int, int]:
        """Positions in the arrival lists; ``fill`` looks only at what came after."""
        with self._lock:
            return len(self.records), len(self.actions)

    def fill(self, run, mark: Tuple[int, int]) -> None:
        """Put the arrivals since ``mark`` into ``run`` (records by id, actions counted)."""
        ids = set(run.ids)
        with self._lock:
            records, actions = self.records[mark[0]:], self.actions[mark[1]:]
        run.records, run.unmatched, run.actions = {}, [], {}
        for t, record in records:
            request_id = str(record.get('request_id'))
            if request_id in ids:
                run.records.setdefault(request_id, []).append((t, record))
            else:
                run.unmatched.append((t, record))
        for _t, action in actions:
            request_id = str(action.get('request_id'))
            run.actions[request_id] = run.actions.get(request_id, 0) + 1

    def status(self, task: str) -> Dict[str, Any]:
        """Newest status whose name ends with ``task`` ({} when none)."""
        with self._lock:
            for name, status in self.statuses.items():
                if name.endswith(task):
                    return dict(status, name=name)
        return {}

    def close(self) -> None:
        """Stop spinning and destroy the node (rclpy is shut down by the caller)."""
        self.spinner.shutdown(timeout_sec=5.0)
        self.destroy_node()
        self._thread.join(5.0)

