"""rclpy APIs that Foxy lacks, with the fallbacks both nodes and the CLI use.

- ``ExternalShutdownException`` (``rclpy.executors``, Galactic+): on Foxy a private class
  nothing raises, so ``except (KeyboardInterrupt, ExternalShutdownException)`` works.
- ``try_shutdown()``: ``rclpy.try_shutdown`` (Humble+), else ``rclpy.shutdown()`` when the
  default context is still ok.
- ``log_warning(logger, ...)``: ``RcutilsLogger.warning`` where it exists (``warn`` is
  deprecated on Jazzy+), else ``warn``; both take ``throttle_duration_sec`` since Dashing.
"""
import rclpy

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
