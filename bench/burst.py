"""Burst: utterances published back to back at llm_node in its own process.

Every utterance is a numbered JSON envelope (``source``, ``seq``), so the node can count
what never reached it. Prints one row per ``--depth`` (``qos.utterance_depth`` of the
node): sent, records, missing, what the node counted as dropped in its ``/diagnostics``
``input`` status, that status' level and the WARNING lines it logged.

    .venv/bin/python bench/burst.py [--count 2000] [--depth 1000 --depth 2500]
"""
import argparse
import sys
import time

from harness import Harness, Item

COMMANDS = ['座って', 'stand up', '伏せて', '跳舞']


def burst(count: int, depth: int, publisher_depth: int):
    overrides = {'safety.cooldown_s': 0.0, 'qos.utterance_depth': depth}
    with Harness(overrides=overrides, publisher_depth=publisher_depth) as h:
        items = [Item(COMMANDS[i % len(COMMANDS)]) for i in range(count)]
        run = h.traffic(items, rate_hz=1e9, settle_s=30.0)
        time.sleep(2.5)  # one more input status after the last record
        status = h.diagnostics('input')
        warnings = h.node.log_lines('utterances lost before reaching this node')
        return run.summary(), status, len(warnings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--count', type=int, default=2000)
    parser.add_argument('--depth', type=int, action='append',
                        help='qos.utterance_depth of the node (repeatable; default 1000)')
    parser.add_argument('--publisher-depth', type=int, default=5000,
                        help="the publisher's history depth (a reliable keep-last writer "
                             'drops what is not acknowledged once it is full)')
    args = parser.parse_args()
    print('\nBurst: %d utterances back to back (%s), publisher depth %d'
          % (args.count, time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
             args.publisher_depth))
    print('| qos.utterance_depth | sent | records | missing | node counted dropped | '
          'input status | warnings logged |')
    print('|---|---|---|---|---|---|---|')
    for depth in args.depth or [1000]:
        summary, status, warnings = burst(args.count, depth, args.publisher_depth)
        values = status.get('values', {})
        print('| %d | %d | %d | %d | %s | %s | %d |' % (
            depth, summary['sent'], summary['records'], summary['missing'],
            values.get('dropped', '?'), status.get('level', '?'), warnings))
    return 0


if __name__ == '__main__':
    sys.exit(main())
