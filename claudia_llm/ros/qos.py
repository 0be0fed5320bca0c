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


def response(depth: int = 1000) -> QoSProfile:
    """``/claudia/response``: reliable, volatile, keep-last ``depth`` (``qos.response_depth``).

    One record per utterance, so a burst of utterances is a burst of records.
    """
    return reliable(depth)


def diagnostics() -> QoSProfile:
    """``/diagnostics``: reliable, volatile, depth 10."""
    return reliable(10)


# rmw_qos_policy_kind_t values, the same from Foxy on (later releases only add kinds).
POLICY_NAMES = {1: 'INVALID', 2: 'DURABILITY', 4: 'DEADLINE', 8: 'LIVELINESS',
                16: 'RELIABILITY', 32: 'HISTORY', 64: 'LIFESPAN', 128: 'DEPTH',
                256: 'LIVELINESS_LEASE_DURATION', 512: 'AVOID_ROS_NAMESPACE_CONVENTIONS'}


def utterance_in(depth: int, reliability: str) -> QoSProfile:
    """Return the utterance subscription's profile: volatile, keep-last ``depth``.

    ``reliability`` is 'reliable' or 'best_effort' (``qos.utterance_reliability``),
    ``depth`` is ``qos.utterance_depth``.

    A reliable subscription matches reliable publishers only; a best-effort one matches
    reliable and best-effort publishers (REP 2003 / the DDS request-offered rule).

    Raises:
        ValueError: ``reliability`` is neither.
    """
    profile = reliable(depth)
    if reliability == 'best_effort':
        profile.reliability = QoSReliabilityPolicy.BEST_EFFORT
    elif reliability != 'reliable':
        raise ValueError("reliability must be 'reliable' or 'best_effort', got %r"
                         % (reliability,))
    return profile


def policy_name(kind) -> str:
    """Name of an ``rmw_qos_policy_kind_t`` (an int on Foxy, an enum later)."""
    value = getattr(kind, 'value', kind)
    return POLICY_NAMES.get(value, str(value))


def subscription_events(incompatible_qos=None, message_lost=None):
    """``SubscriptionEventCallbacks`` with the callbacks this rclpy has; ``(callbacks, names)``.

    ``rclpy.event_handler`` (Humble+) else ``rclpy.qos_event`` (Foxy, Galactic). Foxy's
    callbacks are ``deadline``, ``liveliness`` and ``incompatible_qos``; ``message_lost``
    came with Galactic (ros2/rclpy#572), so on Foxy it is left out and ``names`` says so.
    """
    try:
        from rclpy.event_handler import SubscriptionEventCallbacks
    except ImportError:  # Foxy, Galactic
        from rclpy.qos_event import SubscriptionEventCallbacks
    callbacks = SubscriptionEventCallbacks()
    names = []
    for name, callback in (('incompatible_qos', incompatible_qos),
                           ('message_lost', message_lost)):
        if callback is not None and hasattr(callbacks, name):
            setattr(callbacks, name, callback)
            names.append(name)
    return callbacks, names


def unsupported_event_errors() -> tuple:
    """Exception types rclpy raises for a QoS event the RMW does not support (may be ())."""
    try:
        from rclpy import event_handler as events
    except ImportError:  # Foxy, Galactic
        from rclpy import qos_event as events
    error = getattr(events, 'UnsupportedEventTypeError', None)
    return (error,) if error is not None else ()
