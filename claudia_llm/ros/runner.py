"""Run llm_node and diagnostics_node in this process (``claudia-llm run``, ``eval``)."""
import threading
from typing import List, Optional

from rclpy.executors import MultiThreadedExecutor

from claudia_llm.ros.diagnostics_node import DiagnosticsNode
from claudia_llm.ros.llm_node import LlmNode


def ros_args(params_file: Optional[str], overrides: List[str]) -> List[str]:
    """Build rclpy.init args: ``--ros-args --params-file F -p name:=value ...``."""
    args = ['claudia-llm']
    if params_file or overrides:
        args.append('--ros-args')
    if params_file:
        args += ['--params-file', params_file]
    for item in overrides:
        args += ['-p', item]
    return args


class InProcessNodes:
    """Both nodes on one executor spinning in a background thread.

    Call after ``rclpy.init``; ``close()`` destroys them (it does not shut rclpy down).
    """

    def __init__(self, with_diagnostics: bool = True):
        self.nodes = [LlmNode()]
        if with_diagnostics:
            self.nodes.append(DiagnosticsNode())
        self.executor = MultiThreadedExecutor(num_threads=2)
        for node in self.nodes:
            self.executor.add_node(node)
        self._thread = threading.Thread(target=self._spin, name='claudia-nodes', daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # noqa: BLE001 - executor stops with the context at shutdown
            pass

    def close(self) -> None:
        """Stop spinning and destroy both nodes."""
        self.executor.shutdown(timeout_sec=5.0)
        for node in self.nodes:
            node.destroy_node()
        self._thread.join(5.0)
