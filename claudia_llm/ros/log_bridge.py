"""Forward Python ``logging`` records of claudia_llm.core to a node's rclpy logger."""
import logging

from claudia_llm.core.log_text import EscapingFormatter
from claudia_llm.ros.compat import log_warning


class RosLogHandler(logging.Handler):
    """A logging handler writing to an rclpy logger at the matching severity."""

    claudia_ros = True

    def __init__(self, ros_logger):
        super().__init__()
        self._ros_logger = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        """Send ``record`` to the ROS logger at the matching severity."""
        message = self.format(record)
        if record.levelno >= logging.ERROR:
            self._ros_logger.error(message)
        elif record.levelno >= logging.WARNING:
            log_warning(self._ros_logger, message)
        elif record.levelno >= logging.INFO:
            self._ros_logger.info(message)
        else:
            self._ros_logger.debug(message)


def forward_python_logging(ros_logger, level: int = logging.INFO) -> None:
    """Send records of the ``claudia_llm`` logger tree to ``ros_logger``."""
    handler = RosLogHandler(ros_logger)
    handler.setFormatter(EscapingFormatter('[%(name)s] %(message)s'))
    root = logging.getLogger('claudia_llm')
    root.setLevel(level)
    root.addHandler(handler)
    root.propagate = False
