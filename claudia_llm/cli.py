"""``claudia-llm``: run, talk to and evaluate claudia_llm without ``ros2 launch``.

Commands:

    claudia-llm run  [--config YAML] [-p name:=value ...]     both nodes, one process
    claudia-llm say  TEXT [--local] [--timeout S]             print one response record
    claudia-llm eval TSV [--json OUT] [--attach]              score a labelled TSV
    claudia-llm worker [...]                                  LLM worker for the Redis queue

Nodes that ``say --local`` and ``eval`` (without --attach) start are isolated: private
topics, node namespace and Redis keys (``ros.runner.Isolation``), so no other llm_node
answers their utterances.
"""
import argparse
import json
import os
import signal
import sys
import tempfile
import threading
from typing import Any, Dict, List, Optional

from claudia_llm.core.paths import config_dir
from claudia_llm.params_file import UsageError, check_params_file, yaml_problem


def main(argv: Optional[List[str]] = None) -> int:
    """Parse ``argv`` and run one subcommand; returns the process exit code."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == 'worker':
        from claudia_llm.worker_main import main as worker_main
        return worker_main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        print('claudia-llm: error: %s' % exc, file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='claudia-llm', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)

    def common(p):
        p.add_argument('--config', default=str(config_dir() / 'claudia_llm.yaml'),
                       help='ROS parameters YAML (default: the packaged one)')
        p.add_argument('-p', '--param', action='append', default=[], metavar='NAME:=VALUE',
                       help='override one parameter, e.g. -p ollama.host:=http://orin:11434 '
                            '(for the nodes this command starts: run, say --local, eval '
                            'without --attach)')

    run = sub.add_parser('run', help='run llm_node and diagnostics_node in this process')
    common(run)
    run.set_defaults(func=_run)
    say = sub.add_parser('say', help='publish one utterance and print its response record')
    say.add_argument('text')
    say.add_argument('--local', action='store_true',
                     help='start isolated nodes in this process (private topics)')
    say.add_argument('--timeout', type=float, default=30.0, help='seconds to wait')
    common(say)
    say.set_defaults(func=_say)
    ev = sub.add_parser('eval', help='publish each TSV row and score the records')
    ev.add_argument('tsv')
    ev.add_argument('--json', dest='json_out', help='write totals and one row per case')
    ev.add_argument('--attach', action='store_true',
                    help='use nodes already running (normal topics); default: isolated '
                         'nodes in this process')
    ev.add_argument('--timeout', type=float, default=30.0, help='seconds per utterance')
    common(ev)
    ev.set_defaults(func=_eval)
    sub.add_parser('worker', help='run LLM workers on the Redis queue (see worker --help)')
    return parser


def _node_settings(path: str, data: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """``{node: settings}`` of both nodes from ``path``; a bad name or type is a UsageError."""
    from claudia_llm.core.errors import ConfigError
    from claudia_llm.core.settings import NODES, load_yaml
    try:
        return {node: load_yaml(node, path) for node in NODES}
    except ConfigError as exc:
        raise UsageError('--config %s: %s' % (path, exc)) from exc


def _init(params_file: Optional[str], overrides: List[str],
          remaps: Optional[List[str]] = None) -> None:
    """``rclpy.init`` with ``params_file``, checked ``-p`` items and ``-r`` rules."""
    import rclpy

    from claudia_llm.ros.runner import ros_args
    try:
        rclpy.init(args=ros_args(params_file, overrides, remaps))
    except RuntimeError as exc:  # RCLError: rcl refused the params file or a -p value
        raise UsageError('ROS refused the parameters: %s' % ' '.join(str(exc).split())
                         ) from exc


def _warn_ignored_params(args, attach_flag: str) -> None:
    if args.param:
        print('claudia-llm: warning: -p is ignored %s (the running nodes keep their '
              'parameters)' % attach_flag, file=sys.stderr)


def _checked_overrides(items: List[str]) -> List[str]:
    """Check ``-p NAME:=VALUE`` items with ``settings.check``, as the nodes will.

    Unknown names are reported (a typo would otherwise pass silently); a whole number
    given for a float parameter gets ``.0`` (ROS refuses INTEGER for a DOUBLE).

    Raises:
        UsageError: an item without ``:=``, whose value is not YAML, or whose value
            ``settings.check`` refuses (type or bounds).
    """
    import yaml

    from claudia_llm.core.errors import ConfigError
    from claudia_llm.core.settings import NODES, check
    checked = []
    for item in items:
        name, sep, value = item.partition(':=')
        if not sep or not name:
            raise UsageError('-p needs NAME:=VALUE, got %r' % item)
        try:
            parsed = yaml.safe_load(value)  # rcl parses the value as YAML too
        except yaml.YAMLError as exc:
            raise UsageError('-p %s: the value is not valid YAML: %s' % (item, yaml_problem(exc))
                             ) from exc
        nodes = [node for node, table in NODES.items() if name in table]
        if not nodes:
            print('claudia-llm: warning: unknown parameter %r (ignored)' % name,
                  file=sys.stderr)
            continue
        default = NODES[nodes[0]][name].default
        if parsed is None and isinstance(default, str):
            parsed = ''  # `-p ollama.host:=` means the empty text
        try:
            for node in nodes:
                check(node, name, parsed)
        except ConfigError as exc:
            raise UsageError('-p %s: %s' % (item, exc)) from exc
        if isinstance(default, float) and value.strip().lstrip('+-').isdigit():
            value = value.strip() + '.0'
        checked.append('%s:=%s' % (name, value))
    return checked


def _start(factory):
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


def _run(args) -> int:
    _node_settings(args.config, check_params_file(args.config))
    overrides = _checked_overrides(args.param)
    import rclpy

    from claudia_llm.ros.compat import try_shutdown
    from claudia_llm.ros.runner import InProcessNodes
    _init(args.config, overrides)
    nodes = None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # systemd, docker, timeout
    try:
        nodes = _start(InProcessNodes)
        print('claudia-llm: llm_node and diagnostics_node running; Ctrl-C to stop', flush=True)
        while rclpy.ok() and not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        _ignore_further_interrupts()
        if nodes is not None:
            nodes.close()
        try_shutdown()
    return 0


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def _ignore_further_interrupts() -> None:
    """A second Ctrl-C must not break the clean-up; every step of it has a timeout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _with_client(args, local: bool, body) -> int:
    """Run ``body(client)`` against in-process isolated nodes (``local``) or running ones."""
    data = check_params_file(args.config)
    settings = _node_settings(args.config, data)['llm_node']
    overrides = _checked_overrides(args.param) if local else []
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
        _init(None, [])
    nodes = client = None
    executor = SingleThreadedExecutor()
    thread = threading.Thread(target=executor.spin, daemon=True)
    signal.signal(signal.SIGTERM, _interrupt)  # clean up (private Redis keys) as on Ctrl-C
    try:
        if local:
            nodes = _start(lambda: InProcessNodes(isolation=isolation))
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
    finally:
        _ignore_further_interrupts()
        executor.shutdown(timeout_sec=2.0)
        if thread.is_alive():
            thread.join(2.0)
        if client is not None:
            client.destroy_node()
        if nodes is not None:
            nodes.close()
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
        _init(path, overrides, isolation.remaps())  # rcl reads the file here, once
    finally:
        os.unlink(path)


def _say(args) -> int:
    def body(client):
        record = client.ask(args.text, args.timeout)
        if record is None:
            print('no response record within %.0f s' % args.timeout, file=sys.stderr)
            return 1
        print(json.dumps(record, ensure_ascii=False, indent=2))
        return 0
    if not args.local:
        _warn_ignored_params(args, 'without --local')
    return _with_client(args, args.local, body)


def _eval(args) -> int:
    from claudia_llm.core.evaluation import read_cases, score, summarise
    try:
        cases = read_cases(args.tsv)
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from exc

    def body(client):
        rows = []
        for i, case in enumerate(cases, 1):
            row = score(case, client.ask(case.utterance, args.timeout))
            rows.append(row)
            mark = 'ok ' if row['ok'] else ('WRONG' if row['wrong_action'] else 'miss')
            print('%3d %-5s %-9s %8s ms  %s -> %s (expected %s)' % (
                i, mark, row['source'], _ms(row['latency_ms']), case.utterance,
                '+'.join(row['intent']) or 'none', case.expected), flush=True)
        totals = summarise(rows, cases)
        _print_totals(totals)
        if args.json_out:
            with open(args.json_out, 'w', encoding='utf-8') as out:
                json.dump({'totals': totals, 'rows': rows}, out, ensure_ascii=False, indent=1)
        return 0 if totals['missing_records'] == 0 else 1
    if args.attach:
        _warn_ignored_params(args, 'with --attach')
    return _with_client(args, not args.attach, body)


def _ms(value) -> str:
    return '-' if value is None else '%.1f' % value


def _print_totals(t) -> None:
    print('\nrows %d  right %d  accuracy %.1f%%  wrong actions %d  fallbacks %d  '
          'missing records %d' % (t['rows'], t['right'], 100 * t['accuracy'],
                                  t['wrong_actions'], t['fallbacks'], t['missing_records']))
    print('rows expecting an action: %d, right from emergency/exact/semantic tiers: %d '
          '(%.1f%%); actions changed without a named rule: %d' % (
              t['expecting_action'], t['cache_tier_right'], 100 * t['cache_tier_rate'],
              t['unexplained_changes']))
    print('%-10s %5s %10s %10s' % ('source', 'n', 'p50 ms', 'p99 ms'))
    for source, s in t['latency_by_source'].items():
        print('%-10s %5d %10.1f %10.1f' % (source, s['n'], s['p50_ms'], s['p99_ms']))


if __name__ == '__main__':
    sys.exit(main())
