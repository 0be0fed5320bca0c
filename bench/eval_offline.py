"""How much of a command TSV the exact tier understands alone: normalize + lexicon + compose.

No Redis, no LLM, no semantic cache: the lexicon's answers go into a dict and every row's
utterance goes through ``core.commands.compose`` against it.

Usage::

    .venv/bin/python bench/eval_offline.py [../shared/eval/commands_dev.tsv] [--misses]

Scoring (DESIGN.md): ``expected`` is ``none``, ``A``, ``A+B`` (a sequence) or ``A|B`` (any
alternative); a row is right when the intent equals one alternative; a wrong action is a row
whose intent is not empty and matches no alternative. StopMove rows belong to the emergency
tier and are counted apart.
"""
import argparse
import csv
import sys
import time
from pathlib import Path
from typing import Dict, List

from claudia_llm.core.record import Answer
from claudia_llm.core.safety.actions import ActionRegistry
from claudia_llm.core.understanding import japanese
from claudia_llm.core.understanding.commands import compose
from claudia_llm.core.understanding.lexicon import Lexicon
from claudia_llm.core.understanding.normalize import normalize

DEFAULT_TSV = Path(__file__).resolve().parents[2] / 'shared' / 'eval' / 'commands_dev.tsv'


def alternatives(expected: str) -> List[List[str]]:
    """``'A+B|C'`` -> ``[['A', 'B'], ['C']]``; ``'none'`` -> ``[[]]``."""
    if expected.strip() == 'none':
        return [[]]
    return [alt.split('+') for alt in expected.strip().split('|')]


def _normalize_cost(texts: List[str]):
    """(p50, p99, max) in ms of ``normalize`` per text with the analysis caches empty."""
    times = []
    for text in texts:
        japanese.analyse.cache_clear()
        japanese.deverbal_reading.cache_clear()
        start = time.perf_counter()
        normalize(text)
        times.append((time.perf_counter() - start) * 1000.0)
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.99)], times[-1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('tsv', nargs='?', default=str(DEFAULT_TSV))
    parser.add_argument('--misses', action='store_true', help='list action rows not answered')
    args = parser.parse_args(argv)

    registry = ActionRegistry.load()
    lexicon = Lexicon.load(None, registry)
    table: Dict[str, Answer] = {key: answer for key, answer, _ in lexicon.answers()}
    high_risk = lexicon.high_risk()
    spellings = lexicon.spellings()  # as the node does: readings, loanwords, trick numbers
    normalize('ウォームアップ')  # load the analyser and zhconv's tables before timing
    normalize('請坐下')

    with open(args.tsv, encoding='utf-8', newline='') as stream:
        rows = list(csv.DictReader(stream, delimiter='\t'))
    counts = dict.fromkeys(('action', 'right', 'stop', 'stop_right', 'none', 'none_hit'), 0)
    wrong, misses, none_hits, stops, times = [], [], [], [], []
    for row in rows:
        start = time.perf_counter()
        answer = compose(row['utterance'], table.get, high_risk, spellings)
        times.append((time.perf_counter() - start) * 1000.0)
        intent = [a.name for a in answer.intent] if answer else []
        alts = alternatives(row['expected'])
        if alts == [[]]:
            counts['none'] += 1
            if intent:
                counts['none_hit'] += 1
                none_hits.append((row['utterance'], intent))
            continue
        stop = any(alt == ['StopMove'] for alt in alts)
        counts['stop' if stop else 'action'] += 1
        if stop:
            stops.append((row['utterance'], '+'.join(intent) or '-'))
        if intent in alts:
            counts['stop_right' if stop else 'right'] += 1
        elif intent:
            wrong.append((row['utterance'], row['expected'], intent))
        elif not stop:
            misses.append((row['utterance'], row['expected']))

    times.sort()
    action, right = counts['action'], counts['right']
    print('rows: %d (%d expect an action other than StopMove, %d StopMove, %d none)'
          % (len(rows), action, counts['stop'], counts['none']))
    print('answered right by the exact tier: %d / %d = %.1f%%'
          % (right, action, 100.0 * right / max(action, 1)))
    print('StopMove rows answered right here (emergency tier owns them): %d / %d'
          % (counts['stop_right'], counts['stop']))
    print('  ' + ', '.join('%s -> %s' % pair for pair in stops))
    print('all action rows incl. StopMove: %d / %d = %.1f%%'
          % (right + counts['stop_right'], action + counts['stop'],
             100.0 * (right + counts['stop_right']) / max(action + counts['stop'], 1)))
    print('wrong actions: %d' % len(wrong))
    for utterance, expected, intent in wrong:
        print('  %-30s expected %-30s got %s' % (utterance, expected, '+'.join(intent)))
    print('none rows with a non-empty intent: %d' % counts['none_hit'])
    for utterance, intent in none_hits:
        print('  %-30s got %s' % (utterance, '+'.join(intent)))
    print('compose cost per row (dict lookups): p50 %.3f ms, p99 %.3f ms, max %.3f ms'
          % (times[len(times) // 2], times[int(len(times) * 0.99)], times[-1]))
    print('normalize cost per row, analyser caches cleared: p50 %.3f ms, p99 %.3f ms, max %.3f ms'
          % _normalize_cost([row['utterance'] for row in rows]))
    if args.misses:
        print('not answered (%d):' % len(misses))
        for utterance, expected in misses:
            print('  %-30s %-24s key=%s' % (utterance, expected, normalize(utterance)))
    return 1 if wrong or none_hits else 0


if __name__ == '__main__':
    sys.exit(main())
