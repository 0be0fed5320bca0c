"""core.robot_state: Go2 sport modes to postures, battery, thread safety, snapshots."""
import math
import threading

import pytest

from claudia_llm.core.record import Action
from claudia_llm.core.safety.actions import ActionRegistry
from claudia_llm.core.safety.robot_state import (
    POSTURES,
    SPORT_MODE_POSTURES,
    RobotState,
    RobotStateSnapshot,
)

# unitree_ros2 README, SportModeState.mode: what each documented value means for the posture.
DOCUMENTED = {0: 'standing', 1: 'standing', 2: 'standing', 3: 'standing', 5: 'lying',
              7: 'lying', 8: 'standing', 10: 'sitting', 11: 'standing', 12: 'standing',
              13: 'standing'}


@pytest.mark.parametrize('mode, posture', sorted(DOCUMENTED.items()))
def test_sport_modes_map_to_postures(mode, posture):
    state = RobotState('unknown')
    assert state.update_from_sport_mode(mode) == posture
    snap = state.snapshot()
    assert snap.posture == posture and snap.posture_source == 'robot'
    assert state.sport_mode == mode


@pytest.mark.parametrize('mode', [4, 6, 9, 14, 99, 255])
def test_modes_that_say_nothing_about_posture_give_unknown(mode):
    state = RobotState('standing')
    assert state.update_from_sport_mode(mode) == 'unknown'
    assert state.snapshot().posture == 'unknown'


def test_table_holds_only_known_postures():
    assert set(SPORT_MODE_POSTURES.values()) <= set(POSTURES) - {'unknown'}
    assert SPORT_MODE_POSTURES == DOCUMENTED


def test_assumed_posture_is_overridden_by_the_robot():
    state = RobotState('lying')
    assert state.snapshot().posture_source == 'initial'
    state.assume_posture('standing')
    assert (state.snapshot().posture, state.snapshot().posture_source) == ('standing',
                                                                           'assumed')
    state.update_from_sport_mode(10)
    assert state.snapshot().posture == 'sitting'


def test_assume_after_follows_the_published_actions():
    registry = ActionRegistry.load()
    state = RobotState('lying')
    stand_up, hello, sit = (Action(n, registry.get(n).api_id) for n in ('StandUp', 'Hello',
                                                                           'Sit'))
    assert state.assume_after([stand_up, hello], registry) == 'standing'
    assert state.assume_after([sit, hello], registry) == 'sitting'
    assert state.assume_after([hello, Action('Nope', 1)], registry) == 'sitting'
    assert state.assume_after([], registry) == 'sitting'
    assert state.snapshot().posture_source == 'assumed'


@pytest.mark.parametrize('posture', ['', 'Standing', 'flying', None])
def test_unknown_posture_names_raise(posture):
    with pytest.raises(ValueError):
        RobotState(posture)
    with pytest.raises(ValueError):
        RobotState().assume_posture(posture)


def test_battery_updates_and_unknown():
    state = RobotState(battery_percent=None)
    assert state.snapshot().battery_percent is None
    state.update_battery(55)
    assert state.snapshot().battery_percent == 55.0
    state.update_battery(0)
    assert state.snapshot().battery_percent == 0.0
    state.update_battery(None)
    assert state.snapshot().battery_percent is None


@pytest.mark.parametrize('soc', [-1, 100.5, math.nan, math.inf, '50', True])
def test_bad_battery_values_raise_and_keep_the_last(soc):
    state = RobotState(battery_percent=42.0)
    with pytest.raises(ValueError):
        state.update_battery(soc)
    assert state.snapshot().battery_percent == 42.0
    with pytest.raises(ValueError):
        RobotState(battery_percent=soc)


def test_snapshot_is_immutable_and_stamped_by_the_clock():
    ticks = iter([10.0, 11.5])
    state = RobotState('standing', 80.0, clock=lambda: next(ticks))
    first, second = state.snapshot(), state.snapshot()
    assert (first.stamp, second.stamp) == (10.0, 11.5)
    assert isinstance(first, RobotStateSnapshot)
    with pytest.raises(AttributeError):
        first.posture = 'lying'


def test_snapshot_taken_earlier_does_not_follow_the_robot():
    state = RobotState('standing', 80.0)
    earlier = state.snapshot()
    state.update_from_sport_mode(5)
    state.update_battery(7.0)
    assert (earlier.posture, earlier.battery_percent) == ('standing', 80.0)
    assert (state.snapshot().posture, state.snapshot().battery_percent) == ('lying', 7.0)


def test_writers_in_one_thread_readers_in_another_see_consistent_pairs():
    """A ROS-like writer thread updates posture and battery; reader threads never see an
    invalid value, and see the last one written at the end."""
    state = RobotState('unknown')
    pairs = {0: ('standing', 0.0), 5: ('lying', 5.0), 10: ('sitting', 10.0)}
    stop = threading.Event()
    bad = []

    def writer():
        for i in range(20000):
            mode = (0, 5, 10)[i % 3]
            state.update_from_sport_mode(mode)
            state.update_battery(pairs[mode][1])
        state.update_from_sport_mode(10)
        state.update_battery(10.0)
        stop.set()

    def reader():
        while not stop.is_set():
            snap = state.snapshot()
            if snap.posture not in POSTURES or not (snap.battery_percent is None
                                                    or 0.0 <= snap.battery_percent <= 100.0):
                bad.append(snap)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader)
                                                   for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(t.is_alive() for t in threads)
    assert bad == []
    assert (state.snapshot().posture, state.snapshot().battery_percent) == ('sitting', 10.0)
