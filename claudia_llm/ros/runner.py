"""Run the nodes in this process (``claudia-llm run``, ``say``, ``eval``).

llm_node and diagnostics_node, and http_bridge with ``run --http``.

``Isolation`` keeps nodes started for ``say --local`` and ``eval`` (without ``--attach``)
apart from every other node on the same ROS domain and Redis: another llm_node (the
robot's, or a ``claudia-llm run``) must never answer their utterances and drive the dog.
"""
import copy
import logging
import os
from typing import Any, Dict, List, Optional

from claudia_llm.ros.diagnostics_node import DiagnosticsNode
from claudia_llm.ros.llm_node import LlmNode
from claudia_llm.ros.spinning import NodeThreads

log = logging.getLogger('claudia_llm.runner')

PRIVATE_TOPICS = ('topics.utterance', 'topics.reply', 'topics.action', 'topics.response',
                  'topics.sport_request', 'topics.sport_response', 'topics.execution',
                  'topics.reply_partial')
"""The ``topics.*`` parameters of llm_node that ``Isolation`` moves (see core.settings)."""

NODE_KEYS = ('llm_node', 'diagnostics_node')


def ros_args(params_file: Optional[str], overrides: List[str],
             remaps: Optional[List[str]] = None) -> List[str]:
    """Build rclpy.init args: ``--ros-args --params-file F -p name:=value ... -r from:=to``."""
    args = ['claudia-llm']
    if params_file or overrides or remaps:
        args.append('--ros-args')
    if params_file:
        args += ['--params-file', params_file]
    for item in overrides:
        args += ['-p', item]
    for rule in remaps or ():
        args += ['-r', rule]
    return args


class Isolation:
    """Private names for the nodes (and the client) of one process.

    With ``name`` = ``claudia_llm_local_<pid>`` and ``namespace`` = ``/<name>``, isolation is
    a node namespace plus a Redis key prefix:

    - the nodes live in ``namespace`` (``remaps``: ``__ns``), which moves their relative
      topics (the defaults, ``claudia/utterance`` ...), their names and parameter services
      away from the robot's; /diagnostics is remapped there too, so a diagnostics
      aggregator never mixes evaluation latencies with the robot's;
    - a ``topics.*`` of ``PRIVATE_TOPICS`` configured absolute (which a namespace does not
      move) is overridden to ``<namespace><topic>`` (``llm_overrides``,
      ``diagnostics_overrides``); ``topics`` holds every one fully qualified, for the client;
    - ``robot.publish_sport_request`` is forced false;
    - ``redis.key_prefix`` becomes ``name``: request queue, result streams, caches, cancel
      stamps and orphan bookkeeping stay apart from another node on the same Redis
      (whose in-node worker would otherwise take these requests, and whose exact cache
      would otherwise take answers of whatever Ollama this process uses);
      ``drop_redis_keys`` deletes them at the end;
    - ``diagnostics.prometheus_port`` is forced 0 (the robot's exporter keeps its port).

    The robot state topics (``robot.*_topic``) are only read and stay as configured.

    Args:
        topics: ``{topics.* name: topic}`` as configured (``PRIVATE_TOPICS`` are needed).
        pid: process id in the names; default ``os.getpid()``.
    """

    def __init__(self, topics: Dict[str, str], pid: Optional[int] = None):
        self.name = 'claudia_llm_local_%d' % (os.getpid() if pid is None else pid)
        self.namespace = '/' + self.name
        self.topics = {key: self.namespace + '/' + topics[key].lstrip('/')
                       for key in PRIVATE_TOPICS}
        self._absolute = {key for key in PRIVATE_TOPICS if topics[key].startswith('/')}
        self.key_prefix = self.name

    def _moved(self, keys) -> Dict[str, Any]:
        return {key: self.topics[key] for key in keys if key in self._absolute}

    def llm_overrides(self) -> Dict[str, Any]:
        """``parameter_overrides`` of llm_node (they beat the YAML and ``-p``)."""
        values: Dict[str, Any] = self._moved(PRIVATE_TOPICS)
        values['robot.publish_sport_request'] = False
        values['redis.key_prefix'] = self.key_prefix
        return values

    def diagnostics_overrides(self) -> Dict[str, Any]:
        """``parameter_overrides`` of diagnostics_node: the private response topic."""
        values: Dict[str, Any] = self._moved(('topics.response',))
        values['diagnostics.prometheus_port'] = 0
        return values

    def remaps(self) -> List[str]:
        """``-r`` rules for rclpy.init: the node namespace and /diagnostics."""
        return ['__ns:=' + self.namespace, '/diagnostics:=%s/diagnostics' % self.namespace]

    def params_yaml(self, data: Dict[str, Any]) -> Dict[str, Any]:
        """A ROS parameters mapping whose node sections also match the namespaced nodes.

        Args:
            data: a parsed ROS parameters YAML (``{node: {ros__parameters: {...}}}``).

        Returns:
            ``data`` plus ``{name: {llm_node: ..., diagnostics_node: ...}}`` copied from
            its ``llm_node`` / ``/llm_node`` (and diagnostics) sections; ``/**`` sections
            keep matching every node as they are.
        """
        moved = {}
        for key in NODE_KEYS:
            section = data.get(key) or data.get('/' + key)
            if section is not None:
                moved[key] = copy.deepcopy(section)  # no YAML aliases: rcl refuses them
        result = dict(data)
        if moved:
            result[self.name] = moved
        return result

    def drop_redis_keys(self, url: str, timeout_s: float = 2.0) -> int:
        """Delete every key under ``key_prefix`` at ``url``; return how many.

        Redis being down is logged, not raised (the keys then expire or stay behind:
        streams have no TTL).
        """
        import redis
        client = redis.Redis.from_url(url, socket_timeout=timeout_s,
                                      socket_connect_timeout=timeout_s)
        pattern = _glob_escape(self.key_prefix) + ':*'
        dropped = 0
        try:
            batch = []
            for key in client.scan_iter(match=pattern, count=500):
                batch.append(key)
                if len(batch) >= 500:
                    dropped += client.delete(*batch)
                    batch = []
            if batch:
                dropped += client.delete(*batch)
        except redis.ConnectionError as exc:  # no Redis, so nothing of ours is in it
            log.debug('private Redis keys %s not removed, %s unreachable: %s',
                      pattern, url, exc)
        except (redis.RedisError, OSError) as exc:
            log.warning('could not remove the private Redis keys %s at %s: %s',
                        pattern, url, exc)
        finally:
            client.connection_pool.disconnect()
        return dropped


def _glob_escape(text: str) -> str:
    return ''.join('\\' + c if c in '*?[]\\' else c for c in text)


class InProcessNodes:
    """Both nodes in this process, each on its own executor thread (``ros.spinning``).

    ``with_http`` adds http_bridge (``claudia-llm run --http``, as ``http:=true`` in the
    launch file); it reads its ``http_bridge`` parameters from the same params file.
    Call after ``rclpy.init`` (with ``isolation.remaps()`` when ``isolation`` is given);
    ``close()`` destroys them (it does not shut rclpy down) and, with ``isolation``,
    deletes the private Redis keys.

    Raises:
        ConfigError, ValueError, OSError: what the node constructors raise; a node already
            built is destroyed first.
    """

    def __init__(self, with_diagnostics: bool = True,
                 isolation: Optional[Isolation] = None, with_http: bool = False):
        self.isolation = isolation
        self.nodes = []
        try:
            self.nodes.append(LlmNode(parameter_overrides=(
                isolation.llm_overrides() if isolation else None)))
            if with_diagnostics:
                self.nodes.append(DiagnosticsNode(parameter_overrides=(
                    isolation.diagnostics_overrides() if isolation else None)))
            if with_http:
                from claudia_llm.ros.http_bridge import HttpBridge  # FastAPI only when asked
                self.nodes.append(HttpBridge())
        except BaseException:
            for node in self.nodes:
                node.destroy_node()
            raise
        self.spinning = NodeThreads(self.nodes, name='claudia-nodes')

    def close(self) -> None:
        """Stop spinning, stop llm_node gracefully, destroy the nodes, drop the private keys.

        ``LlmNode.stop`` lets the answers in flight publish (``scheduler.shutdown_grace_s``)
        while the context is still valid; call ``try_shutdown`` only after this.
        """
        self.spinning.shutdown(timeout_s=5.0)
        for node in self.nodes:
            if isinstance(node, LlmNode):
                node.stop()
        for node in self.nodes:
            node.destroy_node()
        if self.isolation is not None:
            self.isolation.drop_redis_keys(self.nodes[0].settings['redis.url'])
