"""Start-up and shutdown of the nodes a ``claudia-llm`` command runs in this process.

``run_nodes`` (``claudia-llm run``) keeps both nodes up until Ctrl-C or SIGTERM;
``with_client`` runs a body against isolated in-process nodes (``say --local``, ``eval``)
or against nodes already running. Every clean-up step has a timeout and a second Ctrl-C
cannot break it; bad parameters end as one ``UsageError`` line.
"""
import os
import signal
import sys
import tempfile
import threading
from typing import Any, Dict, List, Optional

from claudia_llm.params_file import (
    UsageError,
    check_params_file,
    checked_overrides,
    node_settings,
)


def init_ros(params_file: Optional[str], overrides: List[str],
             remaps: Optional[List[str]] = None) -> None:
    """``rclpy.init`` with ``params_file``, checked ``-p`` items and ``-r`` rules."""
    import rclpy

    from claudia_llm.ros.runner import ros_args
    try:
        rclpy.init(args=ros_args(params_file, overrides, remaps))
    except RuntimeError as exc:  # RCLError: rcl refused the params file or a -p value
        raise UsageError('ROS refused the parameters: %s' % ' '.join(str(exc).split())
                         ) from exc


def warn_ignored_params(args, attach_flag: str) -> None:
    """Say once that ``-p`` does not reach nodes this command does not start."""
    if args.param:
        print('claudia-llm: warning: -p is ignored %s (the running nodes keep their '
              'parameters)' % attach_flag, file=sys.stderr)


def start_nodes(factory):
    """Build nodes; a bad parameter value becomes a one-line UsageError."""
    import rclpy.exceptions

    from claudia_llm.core.errors import ConfigError
    bad_value = (ConfigError, ValueError) + tuple(
        getattr(rclpy.exceptions, n) for n in ('ParameterException',
                                               'InvalidParameterTypeException',
                                               'InvalidParameterValueException')
        if hasattr(rclpy.exceptions, n))
    try:
        return factory()
    except bad_value as exc:
        raise UsageError('bad parameter: %s' % exc) from exc
    except OSError as exc:  # e.g. diagnostics.prometheus_port already in use
        raise UsageError('cannot start the nodes: %s' % exc) from exc


def run_nodes(args) -> int:
    """``claudia-llm run [--http]``: the nodes in this process until Ctrl-C or SIGTERM.

    Returns the exit code (0). ``args.http`` adds http_bridge (its URL is logged).
    """
    node_settings(args.config, check_params_file(args.config))
    overrides = checked_overrides(args.param)
    import rclpy

    from claudia_llm.ros.compat import try_shutdown
    from claudia_llm.ros.runner import InProcessNodes
    from claudia_llm.ros.stop_signals import StopSignals
    init_ros(args.config, overrides)
    nodes = None
    stop = StopSignals()
    interrupt_while_starting()
    try:
        nodes = start_nodes(lambda: InProcessNodes(with_http=args.http))
        # From here SIGINT and SIGTERM (systemd, docker, timeout) only set an event, so the
        # context stays valid while llm_node drains its answers (ros/stop_signals.py).
        stop.install()
        print('claudia-llm: llm_node, diagnostics_node%s running; Ctrl-C to stop'
              % (' and http_bridge' if args.http else ''), flush=True)
        while rclpy.ok() and not stop.event.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    except RuntimeError:  # RCLError: a Ctrl-C shut the context down while nodes were built
        if rclpy.ok():
            raise
    finally:
        ignore_further_interrupts()
        if nodes is not None:
            nodes.close()
        try_shutdown()
    return 0


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def interrupt_while_starting() -> None:
    """Until the nodes are up, SIGINT and SIGTERM stop at once (KeyboardInterrupt).

    rclpy's own SIGINT handler would shut the context down under the nodes being built
    ("rcl node's context is invalid" tracebacks); nothing is in flight yet to drain.
    """
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


def ignore_further_interrupts() -> None:
    """A second Ctrl-C must not break the clean-up; every step of it has a timeout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def with_client(args, local: bool, body) -> int:
    """Run ``body(client)`` against in-process isolated nodes (``local``) or running ones."""
    data = check_params_file(args.config)
    settings = node_settings(args.config, data)['llm_node']
    overrides = checked_overrides(args.param) if local else []
    from rclpy.executors import SingleThreadedExecutor

    from claudia_llm.ros.client import UtteranceClient
    from claudia_llm.ros.compat import try_shutdown
    from claudia_llm.ros.runner import InProcessNodes, Isolation
    isolation = Isolation(settings) if local else None
    topics = isolation.topics if local else settings
    if local:
        _warn_isolated_params(overrides, isolation)
        _init_isolated(isolation, data, overrides)
    else:
        init_ros(None, [])
    nodes = client = None
    executor = SingleThreadedExecutor()
    thread = threading.Thread(target=executor.spin, daemon=True)
    interrupt_while_starting()  # clean up (private Redis keys) as on Ctrl-C
    try:
        if local:
            nodes = start_nodes(lambda: InProcessNodes(isolation=isolation))
        client = UtteranceClient(topics['topics.utterance'], topics['topics.response'])
        executor.add_node(client)
        thread.start()
        if not client.wait_for_node(10.0):
            if local:
                hint = 'the in-process llm_node did not start listening'
            elif args.command == 'eval':
                hint = 'start `claudia-llm run`, or drop --attach'
            else:
                hint = 'start `claudia-llm run` or use --local'
            print('no node subscribes to %s: %s' % (topics['topics.utterance'], hint),
                  file=sys.stderr)
            return 2
        return body(client)
    except KeyboardInterrupt:
        return 130
    except RuntimeError:  # RCLError: a Ctrl-C shut the context down while nodes were built
        import rclpy
        if rclpy.ok():
            raise
        return 130
    finally:
        ignore_further_interrupts()
        executor.shutdown(timeout_sec=2.0)
        if thread.is_alive():
            thread.join(2.0)
        if client is not None:
            client.destroy_node()
        if nodes is not None:
            nodes.close()
        elif local:  # interrupted while the nodes were built: their keys may exist already
            isolation.drop_redis_keys(settings['redis.url'])
        try_shutdown()


def _warn_isolated_params(overrides: List[str], isolation) -> None:
    fixed = set(isolation.llm_overrides()) | set(isolation.diagnostics_overrides())
    for item in overrides:
        name = item.partition(':=')[0]
        if name in fixed:
            print('claudia-llm: warning: -p %s is ignored: the in-process nodes are isolated '
                  '(private topics and Redis keys, no sport requests)' % name, file=sys.stderr)


def _init_isolated(isolation, data: Dict[str, Any], overrides: List[str]) -> None:
    """``rclpy.init`` for isolated nodes: a params file whose sections match their namespace."""
    import yaml
    fd, path = tempfile.mkstemp(prefix='claudia-llm-', suffix='.yaml')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as stream:
            yaml.safe_dump(isolation.params_yaml(data), stream, allow_unicode=True)
        init_ros(path, overrides, isolation.remaps())  # rcl reads the file here, once
    finally:
        os.unlink(path)
