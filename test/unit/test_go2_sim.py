"""testing.go2_sim: the simulated Go2, driven with explicit times (no sleeping)."""
import json

from claudia_llm.testing.go2_sim import NOT_SUPPORTED, Go2Sim

MOVE = json.dumps({'x': 0.3, 'y': 0.0, 'z': 0.0})


def test_posture_changes_take_their_transition_and_requests_during_it_are_ignored():
    sim = Go2Sim(transition_s=1.0, posture_mode=5)
    assert sim.request(0.0, 1, 1004, '') == 0  # StandUp
    assert sim.tick(0.5).mode == 5  # still in the transition
    assert sim.request(0.6, 2, 1016, '') == 0  # Hello: answered 0 ...
    assert sim.events[-1]['outcome'] == 'ignored'  # ... but not done
    assert sim.tick(1.0).mode == 1
    sim.request(1.1, 3, 1016, '')
    assert sim.events[-1]['outcome'] == 'accepted' and sim.tick(1.2).progress == 1.0


def test_a_trick_sets_progress_while_it_runs():
    sim = Go2Sim(trick_s=2.0, posture_mode=1)
    sim.request(0.0, 1, 1022, '')
    assert sim.tick(1.9).progress == 1.0
    assert sim.tick(2.0).progress == 0.0


def test_a_move_lasts_while_refreshed_then_times_out():
    sim = Go2Sim(move_timeout_s=0.5, posture_mode=1)
    for i in range(10):
        sim.request(i * 0.1, i + 1, 1008, MOVE)
    state = sim.tick(0.95)
    assert state.mode == 3 and state.velocity[0] == 0.3
    assert sim.tick(1.5).mode == 1  # not refreshed since 0.9
    walk = sim.walks()[0]
    assert (walk['start'], walk['refreshes'], walk['ended_by']) == (0.0, 10, 'timeout')
    assert abs(walk['duration_s'] - 1.4) < 1e-6


def test_stopmove_ends_a_walk_at_once_even_in_a_transition():
    sim = Go2Sim(posture_mode=1)
    sim.request(0.0, 1, 1008, MOVE)
    sim.request(0.1, 2, 1008, MOVE)
    sim.request(0.15, 3, 1003, '')
    walk = sim.walks()[0]
    assert (walk['end'], walk['ended_by']) == (0.15, 'StopMove')
    sim.request(0.2, 4, 1009, '')  # Sit: a transition
    assert sim.request(0.3, 5, 1003, '') == 0
    assert sim.events[-1]['outcome'] == 'accepted'


def test_move_needs_standing_and_unknown_or_failing_ids_get_3203():
    sim = Go2Sim(posture_mode=5, fail_api_ids=[1016])
    sim.request(0.0, 1, 1008, MOVE)
    assert sim.events[-1]['outcome'] == 'ignored' and sim.tick(0.1).mode == 5
    assert sim.request(0.2, 2, 4242, '') == NOT_SUPPORTED
    assert sim.request(0.3, 3, 1016, '') == NOT_SUPPORTED
