"""core.intake: counts, sequence gaps per source, one warning per burst, the input report."""
import pytest

from claudia_llm.core import diagnostics
from claudia_llm.core.intake import MAX_SOURCES, IntakeMonitor, envelope_seq


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def envelope(seq, source='asr'):
    return '{"text": "座って", "source": "%s", "seq": %d}' % (source, seq)


@pytest.fixture
def monitor():
    warnings = []
    clock = Clock()
    found = IntakeMonitor(burst_quiet_s=5.0, clock=clock, warn=warnings.append)
    found.warnings, found.test_clock = warnings, clock
    return found


@pytest.mark.parametrize('raw, expected', [
    (envelope(7), ('asr', 7)),
    ('{"text": "x", "seq": 3}', ('', 3)),
    ('  {"text": "x", "seq": 0, "source": "mic"}  ', ('mic', 0)),
])
def test_envelope_seq_reads_whole_number_seq(raw, expected):
    assert envelope_seq(raw) == expected


@pytest.mark.parametrize('raw', [
    'plain text seq', '{"text": "x"}', '{"text": "x", "seq": "3"}', '{"text": "x", "seq": 1.5}',
    '{"text": "x", "seq": true}', '{"text": "x", "seq": -1}', '{"seq": 1', '["seq", 1]',
    b'{"seq": 1}', '{"text": "x", "seq": 1, "pad": "%s"}' % ('a' * 9000),
    '{"seq": 1, "x": ' + '[' * 100000 + ']' * 100000 + '}',
])
def test_envelope_seq_is_none_for_anything_else(raw):
    assert envelope_seq(raw) is None


def test_counts_received_and_published(monitor):
    monitor.on_received('hello')
    monitor.on_received(envelope(1))
    monitor.on_published()
    assert monitor.counts()['received'] == 2
    assert monitor.counts()['published'] == 1
    assert monitor.dropped == 0


def test_gap_counts_the_missing_numbers_per_source(monitor):
    for seq in (1, 2, 5):
        monitor.on_received(envelope(seq, 'a'))
    for seq in (10, 11, 12):  # another source, no gap
        monitor.on_received(envelope(seq, 'b'))
    assert monitor.on_received(envelope(9, 'a')) == 3
    assert monitor.seq_gaps == 2 + 3
    assert monitor.dropped == 5


def test_restart_and_duplicate_are_not_loss(monitor):
    for seq in (1, 2, 3, 3, 1, 2):
        monitor.on_received(envelope(seq))
    assert monitor.dropped == 0
    assert monitor.duplicates == 1
    assert monitor.seq_resets == 1


def test_one_warning_per_burst(monitor):
    monitor.on_received(envelope(1))
    for seq in range(3, 40, 2):  # a gap at every message, all within the quiet time
        monitor.on_received(envelope(seq))
        monitor.test_clock.now += 0.1
    assert len(monitor.warnings) == 1
    assert 'jumped from seq 1 to 3' in monitor.warnings[0]
    monitor.test_clock.now += 10.0  # quiet, then a new burst
    monitor.on_received(envelope(50))
    assert len(monitor.warnings) == 2
    assert monitor.counts()['drop_bursts'] == 2


def test_middleware_losses_count_and_warn(monitor):
    monitor.on_lost(4, '/claudia/utterance')
    monitor.on_lost(0, '/claudia/utterance')
    assert monitor.dds_lost == 4 and monitor.dropped == 4
    assert len(monitor.warnings) == 1


def test_sources_are_bounded(monitor):
    for index in range(MAX_SOURCES + 50):
        monitor.on_received(envelope(1, 'src%d' % index))
    assert len(monitor._last_seq) == MAX_SOURCES
    monitor.on_received(envelope(5, 'src0'))  # forgotten: a first sighting, no gap
    assert monitor.dropped == 0


def test_report_warns_while_drops_are_recent(monitor):
    assert monitor.report('/claudia/utterance').level == diagnostics.OK
    monitor.on_received(envelope(1))
    monitor.on_received(envelope(4))
    rep = monitor.report('/claudia/utterance', {'depth': 1000})
    assert rep.level == diagnostics.WARN
    assert '2 utterances lost on /claudia/utterance' in rep.message
    assert rep.values['dropped'] == '2' and rep.values['depth'] == '1000'
    monitor.test_clock.now += 3600.0
    assert monitor.report('/claudia/utterance').level == diagnostics.OK


def test_report_warns_for_other_problems(monitor):
    rep = monitor.report('/t', problems=['1 publisher(s) on /t offer incompatible QoS'])
    assert rep.level == diagnostics.WARN and 'incompatible' in rep.message


def test_burst_quiet_must_be_positive():
    with pytest.raises(ValueError, match='burst_quiet_s'):
        IntakeMonitor(burst_quiet_s=0)
