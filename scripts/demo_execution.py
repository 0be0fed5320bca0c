"""The execution part of `make demo`: the go2_simulator stands in for the robot.

Shows a sequence paced by SportModeState, a timed walk measured on the simulator's own
clock, and a stop word pre-empting a walk, with the /claudia/execution events of each.
"""
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEPS = [  # (utterance, seconds to wait after it before the next one)
    ('立ってから挨拶して', 5.0),        # StandUp then Hello: Hello waits for the stand
    ('walk forward for 3 seconds', 4.0),  # Move resent at 10 Hz for 3 s, then StopMove
    ('walk forward for 5 seconds', 1.0),
    ('ストップ', 1.0),                   # pre-empts the 5 s walk at once
]


def ensure_unitree_messages() -> None:
    """Build the test copies of the Unitree messages into this venv when they are missing."""
    try:
        from unitree_api.msg import Request, Response  # noqa: F401
        from unitree_go.msg import LowState, SportModeState  # noqa: F401
        return
    except ImportError:
        pass
    print('Building the Unitree test messages into %s (about 30 s, once)...' % sys.prefix)
    subprocess.run(['bash', str(ROOT / 'scripts' / 'build_unitree_test_msgs.sh'), sys.prefix],
                   check=True)
    import importlib
    importlib.invalidate_caches()


class ExecutionLog:
    """Collects /claudia/execution events (thread-safe)."""

    def __init__(self):
        self.events = []
        self._lock = threading.Lock()

    def callback(self, msg) -> None:
        with self._lock:
            self.events.append(json.loads(msg.data))

    def take(self):
        with self._lock:
            events, self.events = self.events, []
        return events


def run(client, sim, log: ExecutionLog) -> None:
    """Say each of ``STEPS`` and print its execution events and the simulator's walks."""
    print('\nExecution on the Go2 simulator (go2_simulator: transitions %.1f s, Move timeout '
          '%.1f s)' % (sim.transition_s, sim.move_timeout_s))
    print('%-28s %-9s %-5s %-8s %-10s %s' % ('utterance', 'request', 'index', 'action',
                                            'state', 'detail'))
    start = time.monotonic()
    walks_seen = 0
    for text, pause in STEPS:
        record = client.ask(text, timeout_s=30.0) or {}
        execution = record.get('execution') or {}
        print('%-28s %-9s %-5s %-8s %-10s %s' % (
            text, (record.get('request_id') or '-')[:8], '', '+'.join(
                a['name'] for a in record.get('actions', [])) or '-',
            execution.get('state', '-'),
            'preempted %s' % ', '.join(r[:8] for r in execution['preempted'])
            if execution.get('preempted') else ''))
        deadline = time.monotonic() + pause
        while time.monotonic() < deadline:
            time.sleep(0.05)
            for event in log.take():
                detail = ' '.join('%s=%s' % (k, event[k]) for k in ('by', 'sends', 'code',
                                                                    'elapsed_s', 'reason')
                                  if event.get(k) is not None)
                print('  %5.2f s %-18s %-9s %-5s %-8s %-10s %s' % (
                    time.monotonic() - start, '', (event.get('request_id') or '-')[:8],
                    event.get('index', ''), event['action'], event['state'], detail),
                    flush=True)
        for walk in sim.walks()[walks_seen:]:
            print('  simulator: walked %.2f s (%d Move refreshes), ended by %s' % (
                walk['duration_s'], walk['refreshes'], walk['ended_by']), flush=True)
        walks_seen = len(sim.walks())
