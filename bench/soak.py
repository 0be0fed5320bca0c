"""Soak: 10 000 mixed utterances at a fixed rate against llm_node in its own process.

The mix (per 500 utterances): 424 cache hits (lexicon phrasings, exact tier), 25 new
questions for the LLM (the Ollama-protocol test server, ``--service-time-s``), 1 emergency
word (it pre-empts queued LLM work by design, so it is rare here), 50 bad inputs (empty
text, an unknown priority, too long, a number as text: each a JSON envelope with an id,
so its error record is matched). The LLM questions cycle through ``--llm-pool`` texts and
the LLM's answers are ``volatile`` (never cached), so every one reaches the LLM and, once
the pool was seen (warm-up), memory growth is the request path's own. ``--llm-pool 0``
makes every question new and ``--cacheable`` lets answers be cached: then each new
question also fills the bounded caches (vector LRU, normalisation) and adds an exact and
a semantic entry (bounded by TTL only), which shows as growth per new answer.

Prints received / recorded / missing, p50/p99 round trip per tier (as sent) for every
block of 1 000, the node's RSS at start and after every block (slope in KiB per 1 000
after ``--warmup``), and Redis ``used_memory``.

    .venv/bin/python bench/soak.py [--count 10000] [--rate 200] [--service-time-s 0.02]
"""
import argparse
import json
import sys
import time

import numpy as np
from harness import Harness, Item, pct

HITS = ['座って', 'stand up', '伏せて', '跳舞', 'お手', '坐下', 'sit down', 'ハートして',
        '起立', 'say hello', 'こんにちは', '站起来', 'dance', 'stretch', '握手']
EMERGENCY = ['止まれ！', 'STOP', '停下', 'ストップ']
TIERS = ('exact', 'llm', 'emergency', 'bad')
# The test server's answer to the LLM questions: 'volatile' answers are never cached.
VOLATILE = {'rules': [{'regex': '^tell me something', 'content': {
    'reply': 'Here is something new.', 'actions': [], 'kind': 'volatile'}}]}


def bad_input(index: int) -> Item:
    """A malformed envelope that still carries an id (its error record is matched)."""
    request_id = 'bad-%d' % index
    kinds = [{'text': '   ', 'id': request_id},
             {'text': 'stand up', 'id': request_id, 'priority': 'urgent'},
             {'text': 'あ' * 600, 'id': request_id},
             {'text': 12345, 'id': request_id}]
    body = json.dumps(kinds[index % len(kinds)], ensure_ascii=False)
    return Item(raw=body, id=request_id, tier='bad')


def mix(count: int, pool: int):
    """``count`` items in a fixed repeating pattern of 100 (see the module docstring)."""
    items = []
    for index in range(count):
        if index % 500 == 250:
            items.append(Item(EMERGENCY[index // 500 % len(EMERGENCY)], tier='emergency',
                              command=True))
        elif index % 20 == 7:
            topic = index % pool if pool else index
            items.append(Item('tell me something about topic %d' % topic, tier='llm'))
        elif index % 10 == 3:
            items.append(bad_input(index // 10))
        else:
            items.append(Item(HITS[index % len(HITS)], tier='exact', command=True))
    return items


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--count', type=int, default=10000)
    parser.add_argument('--rate', type=float, default=200.0, help='utterances per second')
    parser.add_argument('--block', type=int, default=1000)
    # Warm-up: until the bounded per-request memories are full, above all the safety
    # policy's 4096 remembered request ids (duplicate-request guard), full after about
    # 4 800 utterances of this mix.
    parser.add_argument('--warmup', type=int, default=5000, help='utterances before the slope')
    parser.add_argument('--service-time-s', type=float, default=0.02)
    parser.add_argument('--keep', action='store_true', help='keep the logs')
    parser.add_argument('--llm-pool', type=int, default=100,
                        help='distinct LLM questions (0 = every one new)')
    parser.add_argument('--cacheable', action='store_true',
                        help='LLM answers may be cached (default: volatile answers)')
    args = parser.parse_args()
    items = mix(args.count, args.llm_pool)
    rss = []
    started = time.monotonic()
    with Harness(overrides={'safety.cooldown_s': 0.0, 'scheduler.queue_size': 256},
                 service_time_s=args.service_time_s, keep=args.keep,
                 script=None if args.cacheable else VOLATILE) as h:
        rss.append((0, h.node.rss_kib()))
        redis_start = h.redis_used_memory()

        def sample(sent: int) -> None:
            if sent % args.block == 0:
                rss.append((sent, h.node.rss_kib()))

        run = h.traffic(items, args.rate, on_sent=sample, settle_s=60.0)
        elapsed = time.monotonic() - started
        time.sleep(2.0)
        rss.append(('end', h.node.rss_kib()))
        redis_end = h.redis_used_memory()
        intake = h.diagnostics('input').get('values', {})
        alive = h.node.alive()
    report(args, run, rss, redis_start, redis_end, intake, alive, elapsed)
    return 0 if not run.missing() and alive else 1


def report(args, run, rss, redis_start, redis_end, intake, alive, elapsed) -> None:
    summary = run.summary()
    print('\nSoak: %d utterances at %.0f/s (%s), LLM questions %s, answers %s, %.0f s '
          'wall, node up: %s' % (
              len(run.sent), args.rate, time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
              'from a pool of %d' % args.llm_pool if args.llm_pool else 'all new',
              'cacheable' if args.cacheable else 'volatile', elapsed, 'yes' if alive else 'NO'))
    print('sent %d | node received %s | records %d | missing %d | duplicate records %d | '
          'duplicate actions %d | node counted dropped %s' % (
              summary['sent'], intake.get('received', '?'), summary['records'],
              summary['missing'], summary['duplicate_records'], summary['duplicate_actions'],
              intake.get('dropped', '?')))
    print('\n| utterances | RSS KiB | ' + ' | '.join(
        '%s p50 / p99 ms' % t for t in TIERS) + ' |')
    print('|---|---|' + '---|' * len(TIERS))
    rss_at = dict(rss)
    print('| start | %d |%s' % (rss_at[0], ' |' * len(TIERS)))
    for block_start in range(0, len(run.sent), args.block):
        block = run.sent[block_start:block_start + args.block]
        cells = []
        for tier in TIERS:
            trips = [(t - s.t) * 1000.0 for s in block
                     for t, _r in run.records.get(s.id, ())[:1] if s.item.tier == tier]
            cells.append('%.1f / %.1f' % (pct(trips, 50), pct(trips, 99)) if trips else '-')
        end = block_start + len(block)
        print('| %d | %s | %s |' % (end, rss_at.get(end, '-'), ' | '.join(cells)))
    after = [(n, kib) for n, kib in rss if isinstance(n, int) and n >= args.warmup]
    slope = float('nan')
    if len(after) >= 2:
        xs, ys = np.array([n for n, _ in after], float), np.array([k for _, k in after], float)
        slope = float(np.polyfit(xs / 1000.0, ys, 1)[0])
    print('\nRSS start %d KiB, end %d KiB; slope after %d utterances: %.1f KiB per 1 000'
          % (rss_at[0], rss_at['end'], args.warmup, slope))
    print('Redis used_memory: %.1f MiB at start, %.1f MiB at the end'
          % (redis_start / 2 ** 20, redis_end / 2 ** 20))
    outcomes = {}
    for sent in run.sent:
        for _t, record in run.records.get(sent.id, ())[:1]:
            got = record['error']['code'] if record.get('error') else record['source']
            key = (sent.item.tier, got)
            outcomes[key] = outcomes.get(key, 0) + 1
    print('Outcomes (sent as -> answered by source or error code): ' + ', '.join(
        '%s -> %s: %d' % (k[0], k[1], n) for k, n in sorted(outcomes.items())))
    if run.missing():
        print('missing ids (first 10): %s' % [s.id for s in run.missing()[:10]])


if __name__ == '__main__':
    sys.exit(main())
