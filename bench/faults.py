"""Faults: one table, one row per fault, against llm_node in its own process.

Every row gets a fresh ``Harness`` (Redis, Ollama test server, node), sends ``RATE``
utterances/s for ``DURATION_S`` (one in ``llm_every`` a new question for the LLM, the
rest lexicon commands, so every record but the LLM's carries an action), injects its
fault at ``FAULT_AT_S`` and clears it where the fault has an end. Columns: utterances
sent, records, missing (an id sent that got no record), duplicated actions (more than one
action message for one id), time from the fault to the first error record, time from the
fault's end to the first good LLM answer of an utterance sent after it, exact-tier
p50/p99 during the fault (from the fault to its end, at least ``WINDOW_S``: an instant
fault such as CLIENT KILL is measured over the seconds after it; a node restart, whose
utterances wait meanwhile, up to ``WINDOW_S`` after the new node is ready), whether the
node was up at the end, and the error codes of the records with their counts.

Adding a row is one function::

    @row('Redis paused (SIGSTOP 10 s)')
    def redis_paused(h, run):               # called at FAULT_AT_S on its own thread
        begin(run)
        h.redis.pause()                     # SIGSTOP
        time.sleep(10.0)
        h.redis.resume()                    # SIGCONT
        end(run)

``@row(name, overrides=..., script=..., service_time_s=..., duration_s=..., rate_hz=...,
llm_every=...)`` sets what that row needs.

    .venv/bin/python bench/faults.py [--only SUBSTRING] [--keep]
"""
import argparse
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from harness import Harness, Item, Run, pct

RATE = 10.0
FAST = 20.0  # utterances/s of the issue 16 rows (Redis and node faults, one in five LLM)
DURATION_S = 14.0
FAULT_AT_S = 3.0
WINDOW_S = 2.0
COMMANDS = ['座って', 'stand up', '伏せて', '跳舞', 'sit down', '站起来']
# Node settings of every row: short LLM timeout so a hung Ollama shows within the run.
BASE = {'safety.cooldown_s': 0.0, 'ollama.timeout_s': 3.0, 'scheduler.deadline_s': 10.0,
        'scheduler.claim_idle_s': 2.0, 'scheduler.queue_size': 64}
LLM_RULE = '^ask '


@dataclass
class Row:
    """One fault: ``inject(h, run)`` runs at ``FAULT_AT_S`` and sets ``run.marks``."""

    name: str
    inject: Callable[[Harness, Run], None]
    overrides: Dict[str, Any] = field(default_factory=dict)
    script: Any = None
    service_time_s: float = 0.2
    duration_s: float = DURATION_S
    rate_hz: float = RATE
    llm_every: int = 5
    setup: Optional[Callable[[Harness], None]] = None
    after_s: float = 0.0  # the exact-tier window goes on this long after the fault's end
    ollama_slots: int = 1  # the test server's; the node's parallel_slots go in overrides


ROWS: List[Row] = []


def row(name: str, **options):
    """Register the decorated ``inject(h, run)`` as the fault row ``name``."""
    def register(inject):
        ROWS.append(Row(name, inject, **options))
        return inject
    return register


def fault_rule(**behaviour) -> Dict[str, Any]:
    """A script whose single rule gives the LLM questions ``behaviour``."""
    return {'rules': [dict(regex=LLM_RULE, **behaviour)]}


def begin(run: Run) -> None:
    run.marks['fault'] = time.monotonic()


def end(run: Run) -> None:
    run.marks['clear'] = time.monotonic()


def ollama_fault(h: Harness, run: Run, seconds: float, **behaviour) -> None:
    """Give the LLM questions ``behaviour`` for ``seconds``, then the normal answers."""
    begin(run)
    h.ollama.set_script(fault_rule(**behaviour))
    time.sleep(seconds)
    h.ollama.set_script(None)
    end(run)


@row('no fault (control: this machine now)', duration_s=20.0, rate_hz=FAST)
def no_fault(h, run):
    """The same traffic with nothing broken: what the machine's load alone costs."""
    begin(run)
    time.sleep(10.0)
    end(run)


@row('Ollama hangs (5 s)')
def ollama_hang(h, run):
    ollama_fault(h, run, 5.0, hang=True)


@row('Ollama answers 503 (5 s)')
def ollama_503(h, run):
    ollama_fault(h, run, 5.0, status=503, error='server busy')


@row('Ollama malformed JSON (5 s)')
def ollama_malformed(h, run):
    ollama_fault(h, run, 5.0, malformed=True)


@row('Ollama endless whitespace (5 s)')
def ollama_whitespace(h, run):
    ollama_fault(h, run, 5.0, endless=True)


@row('Ollama killed mid-answer, back after 3 s', service_time_s=1.0, llm_every=20)
def ollama_killed(h, run):
    begin(run)
    h.ollama.kill()
    time.sleep(3.0)
    h.ollama.start()
    end(run)


@row('Ollama restarted (SIGTERM, start)')
def ollama_restarted(h, run):
    begin(run)
    h.ollama.stop()
    h.ollama.start()
    end(run)


@row('Redis restarted (SIGTERM, down 2 s)', rate_hz=FAST)
def redis_restarted(h, run):
    begin(run)
    h.redis.stop()
    time.sleep(2.0)
    h.redis.start()
    end(run)


@row('Redis SIGKILL, restarted empty after 2 s', rate_hz=FAST)
def redis_killed(h, run):
    begin(run)
    h.redis.kill()
    time.sleep(2.0)
    h.redis.start()
    end(run)


@row('Redis paused (SIGSTOP 10 s)', duration_s=20.0, rate_hz=FAST)
def redis_paused(h, run):
    begin(run)
    h.redis.pause()
    try:
        time.sleep(10.0)
    finally:
        h.redis.resume()
    end(run)


@row('Redis CLIENT KILL (all clients)', rate_hz=FAST)
def redis_client_kill(h, run):
    begin(run)
    client = h.redis_client()
    try:
        client.execute_command('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes')
    finally:
        client.connection_pool.disconnect()
    end(run)


def two_workers(h: Harness) -> None:
    h.start_worker('worker-a', claim_idle_s=2.0)


@row('worker SIGKILL mid-request (second worker)', service_time_s=1.0, llm_every=20,
     overrides={'scheduler.in_node_worker': False}, setup=two_workers)
def worker_killed(h, run):
    begin(run)
    h.workers[0].process.send_signal(signal.SIGKILL)
    h.start_worker('worker-b', claim_idle_s=2.0)
    end(run)


def node_restarted(h: Harness, run: Run, sig: int, rate_hz: float = RATE) -> None:
    """Stop the node with ``sig`` (graceful: it drains, then hands the rest over), start a
    second one under the same name, hold the utterances meanwhile (nobody listens)."""
    begin(run)
    h.gate.clear()
    # An utterance already past the gate goes out before the signal: the row counts the
    # utterances sent before the stop (those must each get one record).
    time.sleep(2.0 / rate_hz)
    h.node.stop(sig)
    h.node = h.new_node()
    h.node.start()
    h.wait_ready(h.node)
    end(run)
    h.gate.set()


@row('node SIGINT with an answer in flight, node restarted', service_time_s=1.5,
     llm_every=20, after_s=WINDOW_S)
def node_sigint(h, run):
    node_restarted(h, run, signal.SIGINT)


@row('node SIGTERM with answers in flight, second node started', service_time_s=0.8,
     llm_every=10, after_s=WINDOW_S)
def node_sigterm(h, run):
    node_restarted(h, run, signal.SIGTERM)


@row('node SIGTERM with answers in flight, second node started (20/s)', rate_hz=FAST,
     service_time_s=0.6, after_s=WINDOW_S, ollama_slots=3,
     overrides={'ollama.parallel_slots': 3, 'scheduler.max_concurrency': 3})
def node_sigterm_fast(h, run):
    node_restarted(h, run, signal.SIGTERM, rate_hz=FAST)


def items_for(spec: Row) -> List[Item]:
    count = int(spec.duration_s * spec.rate_hz)
    return [Item('ask question %d of %s' % (i, spec.name), tier='llm')
            if i % spec.llm_every == 0 else Item(COMMANDS[i % len(COMMANDS)], command=True)
            for i in range(count)]


def measure(spec: Row, keep: bool) -> Dict[str, Any]:
    """Run one row; return its table cells."""
    overrides = dict(BASE, **spec.overrides)
    with Harness(overrides=overrides, service_time_s=spec.service_time_s, script=spec.script,
                 keep=keep, ollama_slots=spec.ollama_slots) as h:
        if spec.setup is not None:
            spec.setup(h)
        run = h.traffic(items_for(spec), spec.rate_hz,
                        events={FAULT_AT_S: lambda r: spec.inject(h, r)}, settle_s=40.0)
        alive = h.node.alive()
    fault = run.marks.get('fault', 0.0)
    clear = run.marks.get('clear', fault)
    first_error = run.first(lambda s, r: bool(r.get('error')))
    recovered = run.first(lambda s, r: s.item.tier == 'llm' and r['source'] == 'llm'
                          and not r.get('error'), after=clear)
    until = max(clear + spec.after_s, fault + WINDOW_S)
    window = [(s, t, r) for s in run.sent if s.item.tier == 'exact' and fault <= s.t <= until
              for t, r in run.records.get(s.id, ())[:1]]
    exact = [(t - s.t) * 1000.0 for s, t, _r in window]
    wall = time.time() - time.monotonic()  # monotonic -> wall clock (same machine)
    slowest = sorted(((t - s.t) * 1000.0, s.t - fault, split_ms(s.t + wall, t + wall, r))
                     for s, t, r in window)[::-1][:5]
    summary = run.summary()
    errors = Counter(r['error']['code'] for v in run.records.values() for _t, r in v
                     if r.get('error'))
    return dict(summary, name=spec.name, llm_every=spec.llm_every, alive=alive,
                rate_hz=spec.rate_hz, errors=errors, slowest=slowest,
                to_error=None if first_error is None else first_error - fault,
                to_recover=None if recovered is None else recovered - clear,
                exact_p50=pct(exact, 50), exact_p99=pct(exact, 99))


def split_ms(sent: float, arrived: float, record: Dict[str, Any]) -> str:
    """``in/node/out`` ms of one round trip: DDS to the node, the node (``age_ms``), back."""
    try:
        stamp, age = float(record['stamp']), float(record['age_ms']) / 1000.0
    except (KeyError, TypeError, ValueError):
        return '?'
    return '%.0f/%.0f/%.0f' % ((stamp - sent) * 1000.0, age * 1000.0,
                               (arrived - stamp - age) * 1000.0)


def seconds(value: Optional[float]) -> str:
    return '-' if value is None else '%.1f' % max(value, 0.0)


def print_table(rows: List[Dict[str, Any]]) -> None:
    print('\nFaults (%s; fault at %.0f s)'
          % (time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), FAULT_AT_S))
    print('| fault | utt/s | LLM share | sent | records | missing | duplicate records | '
          'duplicated actions | '
          'to error record s | to recover s | exact p50 / p99 ms during | node up | '
          'error codes |')
    print('|---|---|---|---|---|---|---|---|---|---|---|---|---|')
    for cells in rows:
        exact = ('-' if cells['exact_p50'] != cells['exact_p50']
                 else '%.1f / %.1f' % (cells['exact_p50'], cells['exact_p99']))
        codes = ', '.join('%s %d' % item for item in sorted(cells['errors'].items()))
        print('| %s | %.0f | 1 in %d | %d | %d | %d | %d | %d | %s | %s | %s | %s | %s |' % (
            cells['name'], cells['rate_hz'], cells['llm_every'], cells['sent'],
            cells['records'], cells['missing'],
            cells['duplicate_records'], cells['duplicate_actions'], seconds(cells['to_error']),
            seconds(cells['to_recover']), exact, 'yes' if cells['alive'] else 'NO',
            codes or '-'))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--only', help='run the rows whose name contains this')
    parser.add_argument('--keep', action='store_true', help='keep the logs of each row')
    parser.add_argument('--slowest', action='store_true',
                        help='print the slowest exact round trips of each row')
    args = parser.parse_args()
    chosen = [r for r in ROWS if not args.only or args.only.lower() in r.name.lower()]
    results = []
    for spec in chosen:
        started = time.monotonic()
        results.append(measure(spec, args.keep))
        print('%s: %.0f s' % (spec.name, time.monotonic() - started), flush=True)
    print_table(results)
    if args.slowest:
        for cells in results:
            print('%s: slowest exact round trips during the fault (ms at s after the fault, '
                  'ms to the node/in it/back): %s' % (cells['name'], ', '.join(
                      '%.1f at %.1f (%s)' % item for item in cells['slowest'])))
    bad = [r for r in results if r['missing'] or r['duplicate_records']
           or r['duplicate_actions'] or not r['alive']]
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
