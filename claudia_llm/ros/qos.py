"""QoS profiles of claudia_llm's topics (DESIGN.md, "Topics and payloads").

Built with keyword arguments only (``history``, ``depth``, ``reliability``,
``durability``), which Foxy's ``QoSProfile(**kwargs)`` requires; the short policy
names (``RELIABLE``, ``VOLATILE``, ``KEEP_LAST``) exist since Foxy.
"""
from rclpy.qos import QoSDurabilityPolicy, QoSHistoryPolicy, QoSProfile, QoSReliabilityPolicy


def reliable(depth: int) -> QoSProfile:
    """Return a new reliable, volatile, keep-last profile of ``depth`` messages."""
    return QoSProfile(history=QoSHistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=QoSReliabilityPolicy.RELIABLE,
                      durability=QoSDurabilityPolicy.VOLATILE)


def action() -> QoSProfile:
    """``/claudia/action`` and ``/api/sport/request``: reliable, volatile, depth 10."""
    return reliable(10)


def response() -> QoSProfile:
    """``/claudia/response``: reliable, volatile, depth 50 (one record per utterance)."""
    return reliable(50)


def diagnostics() -> QoSProfile:
    """``/diagnostics``: reliable, volatile, depth 10."""
    return reliable(10)
