"""rclpy APIs that Foxy lacks, with the fallbacks both nodes and the CLI use.

- ``ExternalShutdownException`` (``rclpy.executors``, Galactic+): on Foxy a private class
  nothing raises, so ``except (KeyboardInterrupt, ExternalShutdownException)`` works.
- ``try_shutdown()``: ``rclpy.try_shutdown`` (Humble+), else ``rclpy.shutdown()`` when the
  default context is still ok.
- ``log_warning(logger, ...)``: ``RcutilsLogger.warning`` where it exists (``warn`` is
  deprecated on Jazzy+), else ``warn``; both take ``throttle_duration_sec`` since Dashing.
- ``full_topic_name(node, name)``: ``rclpy.expand_topic_name.expand_topic_name`` (Foxy has
  it; ``Node.resolve_topic_name`` is newer); remaps are not applied.
"""
import rclpy
from rclpy.expand_topic_name import expand_topic_name

try:
    from rclpy.executors import ExternalShutdownException
except ImportError:  # Foxy
    class ExternalShutdownException(Exception):  # noqa: N818 - same name as rclpy's
        """Stand-in on Foxy, whose executors never raise it."""


def try_shutdown() -> None:
    """Shut the default context down unless that already happened (Ctrl-C, signal)."""
    shutdown = getattr(rclpy, 'try_shutdown', None)
    if shutdown is not None:
        shutdown()
    elif rclpy.ok():
        rclpy.shutdown()


def log_warning(logger, message: str, **kwargs) -> None:
    """Log ``message`` at WARN with rclpy logging kwargs (``throttle_duration_sec`` ...)."""
    method = getattr(logger, 'warning', None) or logger.warn
    method(message, **kwargs)


def full_topic_name(node, name: str) -> str:
    """``name`` made absolute in ``node``'s namespace ('claudia/x' -> '/ns/claudia/x')."""
    return expand_topic_name(name, node.get_name(), node.get_namespace())
