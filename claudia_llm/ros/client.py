"""A small node that publishes utterances and collects their response records."""
import json
import threading
import time
from typing import Any, Dict, List, Optional

from rclpy.node import Node
from std_msgs.msg import String

from claudia_llm.core.understanding.inputs import new_request_id
from claudia_llm.ros import qos


class UtteranceClient(Node):
    """Publishes on the utterance topic; ``ask`` waits for the matching response record."""

    def __init__(self, utterance_topic: str = '/claudia/utterance',
                 response_topic: str = '/claudia/response', node_name: str = 'claudia_client'):
        super().__init__(node_name)
        self._pub = self.create_publisher(String, utterance_topic, qos.reliable(10))
        self.create_subscription(String, response_topic, self.response_callback,
                                 qos.reliable(50))
        self._records: Dict[str, Dict[str, Any]] = {}
        self._arrivals: List[Dict[str, Any]] = []
        self._cond = threading.Condition()

    def response_callback(self, msg: String) -> None:
        """Keep each record by request id."""
        try:
            record = json.loads(msg.data)
        except ValueError:
            return
        with self._cond:
            self._records[str(record.get('request_id'))] = record
            self._arrivals.append(record)
            self._cond.notify_all()

    def wait_for_node(self, timeout_s: float) -> bool:
        """True once some node subscribes to the utterance topic (within ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._pub.get_subscription_count() > 0:
                return True
            time.sleep(0.05)
        return False

    def ask(self, text: str, timeout_s: float = 30.0,
            priority: str = 'normal') -> Optional[Dict[str, Any]]:
        """Publish ``text`` with a fresh id; return its record or None after ``timeout_s``.

        Someone must spin this node (an executor in another thread).
        """
        request_id = new_request_id()
        self.publish(text, request_id, priority)
        return self.wait_for(request_id, timeout_s)

    def ask_raw(self, data: str, timeout_s: float = 30.0) -> Optional[Dict[str, Any]]:
        """Publish ``data`` as it is (no JSON wrapper, no id); return the next record.

        For bad input that carries no request id. Use one at a time: the next record to
        arrive after publishing is taken as the answer.
        """
        with self._cond:
            seen = len(self._arrivals)
        self._pub.publish(String(data=data))
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while len(self._arrivals) <= seen:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            record = self._arrivals[seen]
            self._records.pop(str(record.get('request_id')), None)
            return record

    def publish(self, text: str, request_id: str, priority: str = 'normal') -> None:
        """Publish ``text`` as a JSON utterance with ``request_id``; see ``wait_for``."""
        self._pub.publish(String(data=json.dumps(
            {'text': text, 'id': request_id, 'priority': priority}, ensure_ascii=False)))

    def wait_for(self, request_id: str, timeout_s: float) -> Optional[Dict[str, Any]]:
        """Return the record of ``request_id`` once it arrives, or None after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while request_id not in self._records:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            return self._records.pop(request_id)

    def records_for(self, request_id: str) -> int:
        """How many records with ``request_id`` arrived so far (duplicates included)."""
        with self._cond:
            return sum(1 for r in self._arrivals if r.get('request_id') == request_id)
