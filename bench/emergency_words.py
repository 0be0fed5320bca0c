"""Miss rate and false-stop rate of the emergency tier, per language, and its cost per call.

Sets (written for claudia_llm, not from any evaluation set): ``test/data/stop_words.tsv``
(stop commands: every one should stop) and ``test/data/not_stops.tsv`` (ordinary sentences
with 止 or "stop" in another sense: none should).

Usage::

    .venv/bin/python bench/emergency_words.py [--list]
"""
import argparse
import csv
import statistics
import time
from pathlib import Path

from claudia_llm.core.understanding.emergency import is_emergency

DATA = Path(__file__).resolve().parents[1] / 'test' / 'data'


def read(name):
    with open(DATA / name, encoding='utf-8', newline='') as stream:
        lines = [line for line in stream if not line.startswith('#')]
    return list(csv.DictReader(lines, delimiter='\t', quoting=csv.QUOTE_NONE))


def cost_us(texts, rounds=20):
    """Median cost of one ``is_emergency`` call in microseconds."""
    samples = []
    for _ in range(rounds):
        for text in texts:
            start = time.perf_counter()
            is_emergency(text)
            samples.append((time.perf_counter() - start) * 1e6)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--list', action='store_true', help='print every miss and false stop')
    args = parser.parse_args()
    stops, others = read('stop_words.tsv'), read('not_stops.tsv')
    print('%-5s %7s %7s %10s %11s' % ('lang', 'stops', 'missed', 'ordinary', 'false stops'))
    for lang in ('ja', 'zh', 'en', 'all'):
        s = [r for r in stops if lang in ('all', r['lang'])]
        o = [r for r in others if lang in ('all', r['lang'])]
        missed = [r for r in s if not is_emergency(r['text'])]
        false = [r for r in o if is_emergency(r['text'])]
        print('%-5s %7d %7d %10d %11d' % (lang, len(s), len(missed), len(o), len(false)))
        if args.list and lang != 'all':
            for r in missed:
                print('   missed: %s (%s)' % (r['text'], r['form']))
            for r in false:
                print('   false stop: %s (%s)' % (r['text'], r['why']))
    texts = [r['text'] for r in stops + others]
    print('is_emergency p50 %.1f us per utterance (%d texts)' % (cost_us(texts), len(texts)))


if __name__ == '__main__':
    main()
