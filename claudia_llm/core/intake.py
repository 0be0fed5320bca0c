"""Counts what reaches llm_node and what it answers, so no utterance is lost silently.

``IntakeMonitor`` counts utterances received and records published, and finds utterances
that never arrived in two ways:

- sequence gaps: a speech node that numbers its envelopes (``{"text", "source", "seq"}``,
  ``seq`` a whole number counting up per ``source``) lets the node see a jump (lost in
  DDS, e.g. a full subscription history in a burst). A ``seq`` lower than the last one
  means the source restarted (counted as ``seq_resets``, not as loss); the same ``seq``
  again is a duplicate.
- losses the middleware reports (``lost``), where the rclpy and RMW in use can tell
  (the ``message_lost`` QoS event: Galactic and newer, not Foxy).

Drops are logged as one WARNING per burst (a burst ends after ``burst_quiet_s`` without
new drops) and reported by ``report()`` as the ``input`` status of ``/diagnostics``.
Plain-text utterances and envelopes without ``seq`` cannot be checked for gaps.
"""
import json
import logging
import time
from collections import OrderedDict
from typing import Any, Callable, Dict, Optional, Tuple, Union

from .diagnostics import OK, WARN, Report

log = logging.getLogger(__name__)

# Envelopes longer than this are not parsed for ``seq`` (the pipeline refuses them anyway).
SEQ_PARSE_MAX_CHARS = 8192
# Sources remembered for gap checks; the least recently heard is forgotten beyond it, so
# random ``source`` values cannot grow memory.
MAX_SOURCES = 256
DROP_WARN_HOLD_S = 60.0
"""The ``input`` status stays WARN this long after the last detected drop, seconds."""


def envelope_seq(raw: Union[str, bytes]) -> Optional[Tuple[str, int]]:
    """``(source, seq)`` of a JSON envelope that carries a whole-number ``seq``, else None.

    Never raises: anything that is not such an envelope (plain text, broken JSON, a
    ``seq`` of another type, negative or boolean) is None.
    """
    if not isinstance(raw, str) or len(raw) > SEQ_PARSE_MAX_CHARS:
        return None
    text = raw.strip()
    if not text.startswith('{') or '"seq"' not in text:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    seq = data.get('seq')
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        return None
    source = data.get('source')
    return (source[:64] if isinstance(source, str) else ''), seq


class IntakeMonitor:
    """Counters of one node's input and output.

    Safe for one ROS callback thread and one event loop thread: each counter has one writer.

    Args:
        burst_quiet_s: drops this far apart belong to different bursts, seconds.
        clock: monotonic clock, seconds (tests pass their own).
        warn: where the once-per-burst warning goes (default: this module's logger).
    """

    def __init__(self, burst_quiet_s: float = 5.0, clock: Callable[[], float] = time.monotonic,
                 warn: Optional[Callable[[str], None]] = None):
        if burst_quiet_s <= 0:
            raise ValueError('burst_quiet_s must be > 0, got %r' % burst_quiet_s)
        self.burst_quiet_s = burst_quiet_s
        self.clock = clock
        self.warn = warn or log.warning
        self.received = 0        # messages taken from the utterance topic
        self.published = 0       # records published
        self.seq_gaps = 0        # utterances missing from numbered sources
        self.dds_lost = 0        # losses the middleware reported
        self.duplicates = 0      # a numbered envelope seen again
        self.seq_resets = 0      # a numbered source started again from a lower seq
        self.bursts = 0          # warnings logged, one per burst
        self._last_seq = OrderedDict()  # source -> last seq, least recent first
        self._last_drop: Optional[float] = None

    @property
    def dropped(self) -> int:
        """Utterances known to be lost: sequence gaps plus middleware reports."""
        return self.seq_gaps + self.dds_lost

    def on_received(self, raw: Union[str, bytes]) -> int:
        """Count one message; check its ``seq``; return how many drops it revealed."""
        self.received += 1
        found = envelope_seq(raw)
        if found is None:
            return 0
        source, seq = found
        last = self._last_seq.pop(source, None)
        self._last_seq[source] = seq
        if len(self._last_seq) > MAX_SOURCES:
            self._last_seq.popitem(last=False)
        if last is None:
            return 0
        if seq == last:
            self.duplicates += 1
            return 0
        if seq < last:
            self.seq_resets += 1
            return 0
        gap = seq - last - 1
        if gap:
            self.seq_gaps += gap
            self._drops(gap, 'source %r jumped from seq %d to %d' % (source, last, seq))
        return gap

    def on_published(self) -> None:
        """Count one published record."""
        self.published += 1

    def on_lost(self, count: int, topic: str) -> None:
        """Count ``count`` messages the middleware reports lost on ``topic``."""
        if count > 0:
            self.dds_lost += count
            self._drops(count, 'the middleware reports %d lost on %s' % (count, topic))

    def _drops(self, count: int, detail: str) -> None:
        now = self.clock()
        if self._last_drop is None or now - self._last_drop > self.burst_quiet_s:
            self.bursts += 1
            self.warn('utterances lost before reaching this node: %s (%d lost so far; one '
                      'warning per burst, the count is in /diagnostics "input"). A burst '
                      'larger than qos.utterance_depth overflows the subscription.'
                      % (detail, self.dropped))
        self._last_drop = now

    def counts(self) -> Dict[str, int]:
        """Every counter by name."""
        return {'received': self.received, 'published': self.published,
                'dropped': self.dropped, 'seq_gaps': self.seq_gaps, 'dds_lost': self.dds_lost,
                'duplicates': self.duplicates, 'seq_resets': self.seq_resets,
                'drop_bursts': self.bursts}

    def report(self, topic: str, extra: Optional[Dict[str, Any]] = None,
               problems: Optional[list] = None) -> Report:
        """The ``input`` status: WARN for recent drops or any of ``problems`` (texts).

        Args:
            topic: the utterance topic (shown as ``topic``).
            extra: more values (QoS settings, incompatible publisher counts).
            problems: reasons for WARN found elsewhere (an incompatible publisher).
        """
        values = {'topic': topic}
        values.update({k: str(v) for k, v in self.counts().items()})
        values.update({k: str(v) for k, v in (extra or {}).items()})
        reasons = list(problems or ())
        if self._last_drop is not None and self.clock() - self._last_drop <= DROP_WARN_HOLD_S:
            reasons.insert(0, '%d utterances lost on %s' % (self.dropped, topic))
        if reasons:
            return Report('input', WARN, '; '.join(reasons), values)
        return Report('input', OK, '%d received, %d records published'
                      % (self.received, self.published), values)
