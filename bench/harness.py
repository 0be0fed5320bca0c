"""Reusable bench harness: the node as a separate process, measured from this one over DDS.

``Harness`` starts a private ``redis-server`` on a free port, the Ollama-protocol test
server as its own process (so a fault can kill and restart it on the same port), and
``llm_node`` as a separate process with a ROS parameters file; in this process a
``Collector`` node publishes utterances (JSON envelopes with ``id``, ``source``, ``seq``)
and collects every record, action and ``/diagnostics`` array. Topics are private to the
run (``/bench_<pid>/...``), so a bench never talks to another node on the same domain.

A bench is a few lines::

    with Harness(overrides={'safety.cooldown_s': 0.0}) as h:
        run = h.traffic([Item('座って'), Item('tell me a story', tier='llm')], rate_hz=20)
        print(run.summary())

``traffic`` sends at a fixed rate, calls ``events`` ({offset_s: callable}) on a side
thread (a fault that sleeps, such as SIGSTOP for 10 s, does not stall sending), waits for
the records and returns a ``Run`` (sent, records, missing, duplicated actions, first error
and recovery times, per-tier latencies). Reused by ``bench/soak.py``, ``bench/faults.py``
and ``bench/fuzz.py``.
"""
import gc
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'bench'))

from processes import NodeProcess, OllamaProcess, WorkerProcess, rss_kib, tail  # noqa: E402,F401

from claudia_llm.core import settings as settings_table  # noqa: E402
from claudia_llm.testing.redis_server import RedisServer, free_port  # noqa: E402
from claudia_llm.testing.ros_domain import use_private_domain  # noqa: E402

NODE_START_TIMEOUT_S = 120.0
TOPIC_KEYS = ('topics.utterance', 'topics.reply', 'topics.action', 'topics.response',
              'topics.sport_request')


def pct(values, q) -> float:
    """Percentile ``q`` of ``values`` (nan when empty)."""
    return float(np.percentile(values, q)) if len(values) else float('nan')


@dataclass
class Item:
    """One utterance to send: ``text`` in a JSON envelope, or ``raw`` sent as it is.

    ``tier`` is the expected answer source (for the per-tier tables); ``command`` marks an
    utterance that may produce an action. ``raw`` may be ``bytes``: then it is published
    as a serialized ``std_msgs/String`` holding those bytes (invalid UTF-8 included).
    """

    text: str = ''
    tier: str = 'exact'
    command: bool = False
    raw: Any = None
    id: str = ''


@dataclass
class Sent:
    """An item as published: its id (envelopes), send time (``time.monotonic``)."""

    item: Item
    id: str
    t: float


@dataclass
class Run:
    """What one ``traffic`` call saw. Times are ``time.monotonic()`` seconds."""

    sent: List[Sent]
    records: Dict[str, List[Any]]  # id -> [(t_arrival, record)]
    actions: Dict[str, int]        # id -> action messages
    unmatched: List[Any]           # (t, record) whose id was not sent in this run
    marks: Dict[str, float] = field(default_factory=dict)

    @property
    def ids(self) -> List[str]:
        return [s.id for s in self.sent if s.id]

    def missing(self) -> List[Sent]:
        """Envelopes sent with an id that got no record."""
        return [s for s in self.sent if s.id and not self.records.get(s.id)]

    def duplicate_records(self) -> int:
        """Records beyond the first for one id."""
        return sum(max(len(v) - 1, 0) for v in self.records.values())

    def duplicate_actions(self) -> int:
        """Action messages beyond the first for one id."""
        return sum(max(n - 1, 0) for n in self.actions.values())

    def first(self, pred: Callable[[Sent, Dict[str, Any]], bool],
              after: float = 0.0) -> Optional[float]:
        """Arrival time of the first record (of an item sent at or after ``after``) with
        ``pred(sent, record)`` true; None when there is none."""
        times = [t for s in self.sent if s.id and s.t >= after
                 for t, r in self.records.get(s.id, ()) if pred(s, r)]
        return min(times) if times else None

    def latencies(self, tier: Optional[str] = None, since: float = 0.0,
                  until: float = float('inf')) -> List[float]:
        """Round trips (ms) of records whose source is ``tier`` (any when None)."""
        out = []
        for s in self.sent:
            for t, r in self.records.get(s.id, ())[:1]:
                if since <= s.t < until and (tier is None or r.get('source') == tier):
                    out.append((t - s.t) * 1000.0)
        return out

    def summary(self) -> Dict[str, int]:
        """``{sent, records, missing, duplicate_records, duplicate_actions}``."""
        return {'sent': len(self.sent),
                'records': sum(len(v) for v in self.records.values()) + len(self.unmatched),
                'missing': len(self.missing()), 'duplicate_records': self.duplicate_records(),
                'duplicate_actions': self.duplicate_actions()}


class Harness:
    """Redis, the Ollama test server, llm_node (separate processes) and a collector.

    Args:
        overrides: llm_node parameters over the defaults of ``core.settings``.
        service_time_s: the Ollama test server's time per request, seconds.
        script: its script (rules), or None.
        keep: keep the work directory (logs) at the end.
        ollama_slots: the Ollama test server's parallel slots.
    """

    def __init__(self, overrides: Optional[Dict[str, Any]] = None,
                 service_time_s: float = 0.0, script: Any = None, keep: bool = False,
                 publisher_depth: int = 1000, ollama_slots: int = 1):
        use_private_domain()  # never the shell's (a robot's) domain
        self.workdir = tempfile.mkdtemp(prefix='claudia-bench-')
        self.keep = keep
        self.namespace = '/bench_%d' % os.getpid()
        self.overrides = dict(overrides or {})
        self.service_time_s, self.script = service_time_s, script
        self.publisher_depth = publisher_depth
        self.ollama_slots = ollama_slots
        self.redis: Optional[RedisServer] = None
        self.ollama: Optional[OllamaProcess] = None
        self.node: Optional[NodeProcess] = None
        self.workers: List[WorkerProcess] = []
        self.collector = None
        self._seq = 0
        # Cleared by a fault that takes the node away: ``traffic`` holds its utterances
        # (and shifts its schedule) until it is set again.
        self.gate = threading.Event()
        self.gate.set()

    # ---- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> 'Harness':
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        """Start Redis, Ollama, the collector and the node; wait until the node listens."""
        binary = shutil.which('redis-server')
        if binary is None:
            raise RuntimeError('redis-server not found on PATH')
        self.redis = RedisServer(binary, self.workdir, free_port())
        self.redis.start()
        self.ollama = OllamaProcess(self.service_time_s, slots=self.ollama_slots,
                                    log_path=os.path.join(self.workdir, 'ollama.log'))
        self.ollama.start()
        if self.script is not None:
            self.ollama.set_script(self.script)
        import rclpy
        from collector import Collector
        rclpy.init()
        self.collector = Collector(self.topics(), self.namespace + '/diagnostics',
                                   self.publisher_depth)
        self.node = self.new_node()
        self.node.start()
        self.wait_ready(self.node)
        # This process measures: a full collection over what start-up imported (rclpy,
        # numpy, ...) would land on some round trip as tens of ms that are not the node's.
        gc.freeze()

    def topics(self) -> Dict[str, str]:
        """The private topics of this run, ``{topics.* name: topic}``."""
        return {key: self.namespace + settings_table.defaults('llm_node')[key]
                for key in TOPIC_KEYS}

    def params(self) -> Dict[str, Any]:
        """llm_node parameters of this run: private topics, Redis, Ollama, overrides."""
        values = dict(self.topics())
        values.update({'redis.url': self.redis.url, 'ollama.host': self.ollama.url,
                       'redis.key_prefix': 'bench%d' % os.getpid()})
        values.update(self.overrides)
        return values

    def new_node(self, name: str = 'llm_node') -> NodeProcess:
        """A (not yet started) node process with this run's parameters."""
        return NodeProcess(self.params(), self.workdir,
                           ['/diagnostics:=%s/diagnostics' % self.namespace], name)

    def wait_ready(self, node: NodeProcess, timeout_s: float = NODE_START_TIMEOUT_S) -> float:
        """Wait until ``node`` logs ``ready`` and subscribes; return the seconds it took.

        Raises:
            RuntimeError: it exited or was not ready within ``timeout_s``.
        """
        start = time.monotonic()
        while time.monotonic() - start < timeout_s:
            if not node.alive():
                raise RuntimeError('llm_node exited (%s); log %s:\n%s' % (
                    node.process.returncode, node.log_path, tail(node.log_path)))
            if node.log_lines('ready: listening') and self.collector.subscribers() > 0:
                return time.monotonic() - start
            time.sleep(0.1)
        raise RuntimeError('llm_node not ready after %.0f s; log %s' % (timeout_s,
                                                                         node.log_path))

    def start_worker(self, name: str, claim_idle_s: float = 2.0) -> WorkerProcess:
        """Start a Redis-queue LLM worker process on this run's Redis and Ollama."""
        worker = WorkerProcess(self.redis.url, self.ollama.url,
                               self.params()['redis.key_prefix'], self.workdir,
                               claim_idle_s, name)
        worker.start()
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        """Stop everything this harness started; remove the work directory unless kept."""
        for worker in self.workers:
            worker.stop()
        if self.node is not None:
            self.node.stop()
        if self.collector is not None:
            from claudia_llm.ros.compat import try_shutdown
            self.collector.close()
            try_shutdown()
            self.collector = None
        if self.ollama is not None:
            self.ollama.stop()
        if self.redis is not None:
            self.redis.stop()
        if self.keep:
            print('bench logs kept in %s' % self.workdir)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # ---- measuring -----------------------------------------------------------------------
    def redis_used_memory(self) -> int:
        """Redis ``used_memory`` in bytes (``INFO memory``)."""
        import redis
        client = redis.Redis.from_url(self.redis.url, socket_timeout=2.0)
        try:
            return int(client.info('memory')['used_memory'])
        finally:
            client.connection_pool.disconnect()

    def redis_client(self):
        """A synchronous redis-py client of this run's server (for CLIENT KILL ...)."""
        import redis
        return redis.Redis.from_url(self.redis.url, socket_timeout=2.0)

    def send(self, item: Item) -> Sent:
        """Publish one item now (an envelope gets a fresh id and this run's ``seq``)."""
        if item.raw is not None:
            self.collector.publish_raw(item.raw)
            return Sent(item, item.id, time.monotonic())
        self._seq += 1
        request_id = item.id or 'b%d-%d' % (os.getpid(), self._seq)
        self.collector.publish_envelope(item.text, request_id, self._seq)
        return Sent(item, request_id, time.monotonic())

    def traffic(self, items: List[Item], rate_hz: float,
                events: Optional[Dict[float, Callable[['Run'], None]]] = None,
                settle_s: float = 30.0, on_sent: Optional[Callable[[int], None]] = None
                ) -> Run:
        """Send ``items`` at ``rate_hz``, run ``events`` at their offsets, collect records.

        Args:
            items: what to send, in order.
            rate_hz: send rate, utterances per second (a fixed schedule: a late send is
                followed by the next ones at once until back on schedule).
            events: ``{seconds after the first send: fn(run)}``, each on its own thread;
                ``run.marks`` is where they record times (``run.marks['fault'] = ...``).
            settle_s: after the last send, wait up to this long for missing records.
            on_sent: called with the count sent so far after each send (RSS sampling).

        Returns:
            the ``Run``; records are matched by id, records of raw items are ``unmatched``.
        """
        mark = self.collector.mark()
        run = Run(sent=[], records={}, actions={}, unmatched=[])
        threads = []
        start = time.monotonic()
        for offset, fn in sorted((events or {}).items()):
            timer = threading.Timer(offset, fn, args=(run,))
            timer.daemon = True
            timer.start()
            threads.append(timer)
        for index, item in enumerate(items):
            if not self.gate.is_set():
                held = time.monotonic()
                self.gate.wait()
                start += time.monotonic() - held
            due = start + index / rate_hz
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            run.sent.append(self.send(item))
            if on_sent is not None:
                on_sent(index + 1)
        for timer in threads:
            timer.join()
        self.wait_records(run, mark, settle_s)
        return run

    def wait_records(self, run: Run, mark: int, settle_s: float) -> None:
        """Fill ``run`` from the collector; wait up to ``settle_s`` for missing ids."""
        raw_count = sum(1 for s in run.sent if not s.id)
        deadline = time.monotonic() + settle_s
        while True:
            self.collector.fill(run, mark)
            done = not run.missing() and len(run.unmatched) >= raw_count
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        time.sleep(0.5)  # late duplicates
        self.collector.fill(run, mark)

    def diagnostics(self, task: str) -> Dict[str, Any]:
        """The newest llm_node ``/diagnostics`` status whose name ends with ``task``:
        ``{'level', 'message', 'values': {...}}`` or {} when none arrived."""
        return self.collector.status(task)


