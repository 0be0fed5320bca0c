"""``claudia-llm``: run, talk to and evaluate claudia_llm without ``ros2 launch``.

Commands:

    claudia-llm run  [--http] [--config YAML] [-p name:=value ...]   the nodes, one process
    claudia-llm say  TEXT [--local] [--timeout S]             print one response record
    claudia-llm eval TSV [--json OUT] [--attach]              score a labelled TSV
    claudia-llm worker [...]                                  LLM worker for the Redis queue

Nodes that ``say --local`` and ``eval`` (without --attach) start are isolated: private
topics, node namespace and Redis keys (``ros.runner.Isolation``), so no other llm_node
answers their utterances.
"""
import argparse
import json
import sys
from typing import List, Optional

from claudia_llm.core.paths import config_dir
from claudia_llm.eval_report import print_totals, row_line
from claudia_llm.params_file import UsageError
from claudia_llm.session import run_nodes, warn_ignored_params, with_client


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
    except KeyboardInterrupt:  # Ctrl-C before the nodes were being built (importing rclpy)
        return 130


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
    run.add_argument('--http', action='store_true',
                     help='also run http_bridge (HTTP API and dashboard, http.host:http.port)')
    common(run)
    run.set_defaults(func=run_nodes)
    say = sub.add_parser('say', help='publish one utterance and print its response record')
    say.add_argument('text')
    say.add_argument('--local', action='store_true',
                     help='start isolated nodes in this process (private topics)')
    say.add_argument('--timeout', type=_positive, default=30.0, help='seconds to wait')
    common(say)
    say.set_defaults(func=_say)
    ev = sub.add_parser('eval', help='publish each TSV row and score the records')
    ev.add_argument('tsv')
    ev.add_argument('--json', dest='json_out', help='write totals and one row per case')
    ev.add_argument('--attach', action='store_true',
                    help='use nodes already running (normal topics); default: isolated '
                         'nodes in this process')
    ev.add_argument('--timeout', type=_positive, default=30.0, help='seconds per utterance')
    common(ev)
    ev.set_defaults(func=_eval)
    sub.add_parser('worker', help='run LLM workers on the Redis queue (see worker --help)')
    return parser


def _positive(text: str) -> float:
    """Parse a number of seconds > 0 (an argparse type)."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError('must be > 0, got %s' % text)
    return value


def _say(args) -> int:
    from claudia_llm.core.understanding.inputs import ID_RECOVERY_MAX_BYTES
    size = len(args.text.encode('utf-8', 'surrogatepass'))
    if size > ID_RECOVERY_MAX_BYTES:  # the node would answer too_long under an id of its own
        raise UsageError('the text is %d bytes; llm_node answers anything over input.max_bytes '
                         '(default 4096) with too_long, and above %d bytes it cannot tell '
                         'which request that was' % (size, ID_RECOVERY_MAX_BYTES))

    def body(client):
        record = client.ask(args.text, args.timeout)
        if record is None:
            print('no response record within %.0f s' % args.timeout, file=sys.stderr)
            return 1
        print(json.dumps(record, ensure_ascii=False, indent=2))
        return 0
    if not args.local:
        warn_ignored_params(args, 'without --local')
    return with_client(args, args.local, body)


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
            print(row_line(i, row, case.utterance, case.expected), flush=True)
        totals = summarise(rows, cases)
        print_totals(totals)
        if args.json_out:
            with open(args.json_out, 'w', encoding='utf-8') as out:
                json.dump({'totals': totals, 'rows': rows}, out, ensure_ascii=False, indent=1)
        return 0 if totals['missing_records'] == 0 else 1
    if args.attach:
        warn_ignored_params(args, 'with --attach')
    return with_client(args, not args.attach, body)


if __name__ == '__main__':
    sys.exit(main())
