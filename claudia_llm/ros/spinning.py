"""Spin several nodes of one process: one ``SingleThreadedExecutor`` per node, each in a thread.

Why not one ``MultiThreadedExecutor`` for all of them: in rclpy's MultiThreadedExecutor a
callback handed to the thread pool stays in the executor's task list until a pool thread
starts it, and the wait loop yields it again meanwhile; on a loaded 2-core machine the
loop spins on ``Task.done``/``executing`` over that list while the pool threads wait for
the GIL. ``claudia-llm run`` measured p50 84-103 ms and p99 1.2-1.5 s for a cache hit
against 1.2-1.5 ms / 1.8-3.4 ms for the same node alone (issue 13); a single-threaded
executor per node, blocked in ``rcl_wait`` until DDS delivers, answers as fast as a
separate process (``bench/inprocess_latency.py``). Our callbacks never block (llm_node
hands work to its asyncio loop), so one thread per node is enough.
"""
import threading
from typing import List

from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node


class NodeThreads:
    """Spin each node of ``nodes`` on its own executor in a daemon thread, from now on.

    Args:
        nodes: nodes built after ``rclpy.init``; more can be added with ``add``.
        name: thread name prefix (the node name is appended).
    """

    def __init__(self, nodes: List[Node] = (), name: str = 'claudia-spin'):
        self.name = name
        self._spinning: List = []  # (executor, thread)
        for node in nodes:
            self.add(node)

    def add(self, node: Node) -> None:
        """Start spinning ``node`` on an executor of its own."""
        executor = SingleThreadedExecutor(context=node.context)
        executor.add_node(node)
        thread = threading.Thread(target=self._spin, args=(executor,), daemon=True,
                                  name='%s-%s' % (self.name, node.get_name()))
        self._spinning.append((executor, thread))
        thread.start()

    @staticmethod
    def _spin(executor) -> None:
        try:
            executor.spin()
        except Exception:  # noqa: BLE001 - the executor stops with the context at shutdown
            pass

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Stop every executor and join its thread (each bounded by ``timeout_s``).

        The nodes stay alive: destroy them afterwards.
        """
        for executor, _thread in self._spinning:
            executor.shutdown(timeout_sec=timeout_s)
        for _executor, thread in self._spinning:
            thread.join(timeout_s)
        self._spinning = []
