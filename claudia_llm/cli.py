"""``claudia-llm``: run, talk to and evaluate claudia_llm without ``ros2 launch``.

Commands:

    claudia-llm run  [--config YAML] [-p name:=value ...]     both nodes, one process
    claudia-llm say  TEXT [--local] [--timeout S]             print one response record
    claudia-llm eval TSV [--json OUT] [--attach]              score a labelled TSV
    claudia-llm worker [...]                                  LLM worker for the Redis queue
"""
import argparse
import json
import signal
import sys
import threading
from typing import List, Optional

from claudia_llm.core.paths import config_dir


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


class UsageError(Exception):
    """A bad argument or parameter value: reported in one line, exit code 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='claudia-llm', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)

    def common(p):
        p.add_argument('--config', default=str(config_dir() / 'claudia_llm.yaml'),
                       help='ROS parameters YAML (default: the packaged one)')
        p.add_argument('-p', '--param', action='append', default=[], metavar='NAME:=VALUE',
                       help='override one parameter, e.g. -p ollama.host:=http://orin:11434 '
                            '(for the nodes this command starts: run, say/eval --local)')

    run = sub.add_parser('run', help='run llm_node and diagnostics_node in this process')
    common(run)
    run.set_defaults(func=_run)
    say = sub.add_parser('say', help='publish one utterance and print its response record')
    say.add_argument('text')
    say.add_argument('--local', action='store_true', help='start the nodes in this process')
    say.add_argument('--timeout', type=float, default=30.0, help='seconds to wait')
    common(say)
    say.set_defaults(func=_say)
    ev = sub.add_parser('eval', help='publish each TSV row and score the records')
    ev.add_argument('tsv')
    ev.add_argument('--json', dest='json_out', help='write totals and one row per case')
    ev.add_argument('--attach', action='store_true', help='use nodes already running')
    ev.add_argument('--timeout', type=float, default=30.0, help='seconds per utterance')
    common(ev)
    ev.set_defaults(func=_eval)
    sub.add_parser('worker', help='run LLM workers on the Redis queue (see worker --help)')
    return parser


def _init(args, local: bool) -> None:
    import rclpy

    from claudia_llm.ros.runner import ros_args
    overrides = _checked_overrides(args.param) if local else []
    rclpy.init(args=ros_args(args.config if local else None, overrides))


def _checked_overrides(items: List[str]) -> List[str]:
    """Check ``-p NAME:=VALUE`` items against the declared parameters.

    Unknown names are reported (a typo would otherwise pass silently); a whole number
    given for a float parameter gets ``.0`` (ROS refuses INTEGER for a DOUBLE).

    Raises:
        UsageError: an item without ``:=``.
    """
    from claudia_llm.core.settings import NODES
    declared = {}
    for table in NODES.values():
        declared.update(table)
    checked = []
    for item in items:
        name, sep, value = item.partition(':=')
        if not sep or not name:
            raise UsageError('-p needs NAME:=VALUE, got %r' % item)
        param = declared.get(name)
        if param is None:
            print('claudia-llm: warning: unknown parameter %r (ignored)' % name,
                  file=sys.stderr)
            continue
        if isinstance(param.default, float) and value.strip().lstrip('+-').isdigit():
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


def _run(args) -> int:
    import rclpy

    from claudia_llm.ros.compat import try_shutdown
    from claudia_llm.ros.runner import InProcessNodes
    _init(args, local=True)
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


def _ignore_further_interrupts() -> None:
    """A second Ctrl-C must not break the clean-up; every step of it has a timeout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _with_client(args, local: bool, body) -> int:
    from rclpy.executors import SingleThreadedExecutor

    from claudia_llm.core.settings import load_yaml
    from claudia_llm.ros.client import UtteranceClient
    from claudia_llm.ros.compat import try_shutdown
    from claudia_llm.ros.runner import InProcessNodes
    _init(args, local)
    settings = load_yaml('llm_node', args.config)
    nodes = client = None
    executor = SingleThreadedExecutor()
    thread = threading.Thread(target=executor.spin, daemon=True)
    try:
        if local:
            nodes = _start(InProcessNodes)
        client = UtteranceClient(settings['topics.utterance'], settings['topics.response'])
        executor.add_node(client)
        thread.start()
        if not client.wait_for_node(10.0):
            hint = ('start `claudia-llm run`, or drop --attach' if args.command == 'eval'
                    else 'start `claudia-llm run` or use --local')
            print('no node subscribes to %s: %s' % (settings['topics.utterance'], hint),
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


def _say(args) -> int:
    def body(client):
        record = client.ask(args.text, args.timeout)
        if record is None:
            print('no response record within %.0f s' % args.timeout, file=sys.stderr)
            return 1
        print(json.dumps(record, ensure_ascii=False, indent=2))
        return 0
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
