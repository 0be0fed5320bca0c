"""core.execution.executor on a real event loop, against a recording robot stand-in.

The table's expected times are shortened (``dataclasses.replace``) so the tests run in
well under a second each; assertions are about order, states and what was sent, never
about how long anything took.
"""
import asyncio
import dataclasses

import pytest

from claudia_llm.core.errors import ConfigError
from claudia_llm.core.execution.executor import Executor
from claudia_llm.core.record import Action
from claudia_llm.core.safety.actions import ActionRegistry

SHORT = {'StandUp': 0.05, 'Hello': 0.05, 'Sit': 0.05, 'Heart': 0.05, 'StopMove': 0.0}


def registry(**expected):
    times = dict(SHORT, **expected)
    specs = [dataclasses.replace(s, expected_s=times.get(s.name, 0.05), min_s=0.0)
             for s in ActionRegistry.load()]
    return ActionRegistry(specs)


REGISTRY = registry()


def act(name, **parameter):
    return Action(name, REGISTRY.get(name).api_id, parameter)


class Robot:
    """Records every request sent; numbers them like header.identity.id."""

    def __init__(self):
        self.sent = []  # (identity id, action name)
        self.events = []

    def send(self, action):
        ident = len(self.sent) + 1
        self.sent.append((ident, action.name))
        return ident

    def names(self):
        return [name for _, name in self.sent]

    def states(self, request_id=None):
        return [(e['action'], e['state']) for e in self.events
                if request_id is None or e['request_id'] == request_id]


def make(robot, reg=REGISTRY, **kwargs):
    return Executor(reg, robot.send, robot.events.append, **kwargs)


async def until(condition, timeout_s=5.0):
    for _ in range(int(timeout_s / 0.01)):
        if condition():
            return True
        await asyncio.sleep(0.01)
    return condition()


def run(coro):
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()


def test_a_sequence_runs_in_order_each_action_after_the_previous_one_ended():
    async def main():
        robot = Robot()
        ex = make(robot, registry(StandUp=0.5))
        assert ex.submit('r1', [act('StandUp'), act('Hello'), act('Sit')])['state'] == 'started'
        assert await until(lambda: robot.sent)
        assert robot.names() == ['StandUp']  # the next one waits for the first to end
        assert await until(lambda: not ex.busy)
        return robot
    robot = run(main())
    assert robot.names() == ['StandUp', 'Hello', 'Sit']
    assert robot.states() == [('StandUp', 'started'), ('StandUp', 'done'), ('Hello', 'started'),
                              ('Hello', 'done'), ('Sit', 'started'), ('Sit', 'done')]
    assert [e['index'] for e in robot.events] == [0, 0, 1, 1, 2, 2]
    assert all(e['by'] == 'duration' for e in robot.events if e['state'] == 'done')


def test_completion_comes_from_sport_mode_state_when_it_is_live():
    async def main():
        robot = Robot()
        ex = make(robot, registry(StandUp=5.0))  # would take 5 s by duration
        ex.sport_state(5, 0.0)  # lying, live
        ex.submit('r1', [act('StandUp'), act('Hello')])
        await asyncio.sleep(0.1)
        ex.sport_state(5, 0.0)  # still in the transition
        await asyncio.sleep(0.05)
        assert robot.names() == ['StandUp']
        ex.sport_state(1, 0.0)  # balanceStand: StandUp done
        assert await until(lambda: robot.names() == ['StandUp', 'Hello'])
        ex.sport_state(1, 1.0)  # the dance runs ...
        await asyncio.sleep(0.1)
        ex.sport_state(1, 0.0)  # ... and ends
        assert await until(lambda: not ex.busy)
        return robot
    robot = run(main())
    done = [e for e in robot.events if e['state'] == 'done']
    assert [(e['action'], e['by']) for e in done] == [('StandUp', 'state'), ('Hello', 'state')]


def test_a_state_that_never_shows_the_end_times_out():
    async def main():
        robot = Robot()
        ex = make(robot, registry(Sit=0.05), timeout_margin_s=0.1)
        ex.sport_state(1, 0.0)
        ex.submit('r1', [act('Sit')])
        for _ in range(20):
            ex.sport_state(1, 0.0)  # never mode 10
            await asyncio.sleep(0.02)
        assert await until(lambda: not ex.busy)
        return robot
    assert run(main()).states() == [('Sit', 'started'), ('Sit', 'timeout')]


def test_a_held_move_is_resent_for_its_duration_then_stopped():
    async def main():
        robot = Robot()
        ex = make(robot, resend_hz=20.0)
        ex.submit('r1', [act('Move', x=0.3, duration_s=0.3)])
        assert await until(lambda: not ex.busy)
        return robot
    robot = run(main())
    names = robot.names()
    assert names[-1] == 'StopMove' and set(names[:-1]) == {'Move'}
    assert len(names) - 1 >= 3  # resent, not sent once
    done = robot.events[-1]
    assert (done['state'], done['by'], done['sends']) == ('done', 'resend', len(names) - 1)


def test_stopmove_preempts_at_once_and_nothing_of_the_old_sequence_follows():
    async def main():
        robot = Robot()
        ex = make(robot)
        ex.submit('walk', [act('Move', x=0.3, duration_s=5.0), act('Hello')])
        assert await until(lambda: len(robot.sent) >= 3)
        result = ex.submit('stop', [act('StopMove')])
        assert robot.names()[-1] == 'StopMove'  # sent before submit returned
        stop_at = len(robot.sent)
        await asyncio.sleep(0.4)
        return robot, result, stop_at
    robot, result, stop_at = run(main())
    assert result == {'state': 'stopped', 'preempted': ['walk']}
    assert len(robot.sent) == stop_at  # no Move, no Hello after the StopMove
    assert robot.states('walk') == [('Move', 'started'), ('Move', 'preempted'),
                                    ('Hello', 'preempted')]
    assert robot.states('stop') == [('StopMove', 'started'), ('StopMove', 'done')]


def test_actions_after_a_stop_in_the_same_list_run_as_a_new_sequence():
    async def main():
        robot = Robot()
        ex = make(robot)
        ex.submit('r1', [act('StopMove'), act('Sit')])
        assert await until(lambda: not ex.busy)
        return robot
    robot = run(main())
    assert robot.names() == ['StopMove', 'Sit']
    assert [e['index'] for e in robot.events] == [0, 0, 1, 1]


def test_replace_drops_pending_actions_but_waits_for_the_one_the_robot_is_doing():
    async def main():
        robot = Robot()
        ex = make(robot, registry(Hello=0.2))
        ex.submit('old', [act('Hello'), act('Sit')])
        await asyncio.sleep(0.05)
        assert await until(lambda: robot.sent)
        result = ex.submit('new', [act('Heart')])
        assert robot.names() == ['Hello']  # the robot is still waving
        assert await until(lambda: not ex.busy)
        return robot, result
    robot, result = run(main())
    assert result == {'state': 'queued', 'preempted': ['old']}
    assert robot.names() == ['Hello', 'Heart']
    assert robot.states('old') == [('Hello', 'started'), ('Hello', 'done'),
                                   ('Sit', 'preempted')]
    assert robot.states('new') == [('Heart', 'started'), ('Heart', 'done')]


def test_replace_stops_a_held_motion_at_once():
    async def main():
        robot = Robot()
        ex = make(robot)
        ex.submit('walk', [act('Move', x=0.3, duration_s=5.0)])
        assert await until(lambda: len(robot.sent) >= 2)
        ex.submit('sit', [act('Sit')])
        assert await until(lambda: not ex.busy, timeout_s=2.0)
        return robot
    robot = run(main())
    names = robot.names()
    assert names[-2:] == ['StopMove', 'Sit'] and set(names[:-2]) == {'Move'}
    assert robot.states('walk') == [('Move', 'started'), ('Move', 'preempted')]


def test_queue_mode_runs_both_sequences_in_order():
    async def main():
        robot = Robot()
        ex = make(robot, mode='queue')
        ex.submit('a', [act('StandUp'), act('Hello')])
        assert ex.submit('b', [act('Heart')])['state'] == 'queued'
        assert await until(lambda: not ex.busy)
        return robot
    assert run(main()).names() == ['StandUp', 'Hello', 'Heart']


def test_a_failing_response_fails_the_action_and_drops_the_rest():
    async def main():
        robot = Robot()
        ex = make(robot, registry(Hello=5.0))
        ex.submit('r1', [act('Hello'), act('Sit')])
        assert await until(lambda: robot.sent)
        ident = robot.sent[0][0]
        ex.response(ident, 1016, 3203)
        assert await until(lambda: not ex.busy)
        ex.response(999, 1009, 3102)  # an answer to nothing running is reported too
        return robot
    robot = run(main())
    assert robot.names() == ['Hello']
    assert robot.states('r1') == [('Hello', 'started'), ('Hello', 'failed'), ('Sit', 'preempted')]
    assert robot.events[1]['code'] == 3203
    assert (robot.events[-1]['action'], robot.events[-1]['code']) == ('Sit', 3102)


def test_a_successful_response_changes_nothing():
    async def main():
        robot = Robot()
        ex = make(robot)
        ex.submit('r1', [act('Hello')])
        assert await until(lambda: robot.sent)
        ex.response(robot.sent[0][0], 1016, 0)
        assert await until(lambda: not ex.busy)
        return robot
    assert run(main()).states() == [('Hello', 'started'), ('Hello', 'done')]


def test_closing_stops_a_held_motion():
    async def main():
        robot = Robot()
        ex = make(robot)
        ex.submit('walk', [act('Move', x=0.2, duration_s=5.0)])
        await asyncio.sleep(0.05)
        await ex.aclose()
        count = len(robot.sent)
        await asyncio.sleep(0.25)
        return robot, count
    robot, count = run(main())
    assert robot.names()[-1] == 'StopMove' and len(robot.sent) == count


def test_an_empty_list_is_refused():
    async def main():
        return make(Robot()).submit('r1', [])
    assert run(main())['state'] == 'refused'


@pytest.mark.parametrize('kwargs', [{'mode': 'parallel'}, {'resend_hz': 0.0},
                                    {'resend_hz': 500.0}, {'timeout_margin_s': -1.0}])
def test_bad_settings_raise_config_error(kwargs):
    async def main():
        make(Robot(), **kwargs)
    with pytest.raises(ConfigError):
        run(main())


def test_a_table_without_stopmove_raises_config_error():
    reg = ActionRegistry([s for s in ActionRegistry.load() if s.name != 'StopMove'])
    with pytest.raises(ConfigError):
        make(Robot(), reg)


def test_already_in_the_done_mode_waits_for_the_expected_time_not_the_stale_mode():
    async def main():
        robot = Robot()
        ex = make(robot, registry(StandUp=0.3))
        ex.sport_state(1, 0.0)  # already balanceStand: mode 1 cannot show StandUp's end
        ex.submit('r1', [act('StandUp'), act('Hello')])
        for _ in range(5):
            await asyncio.sleep(0.03)
            ex.sport_state(1, 0.0)
        sent_early = robot.names()
        assert await until(lambda: len(robot.sent) == 2)
        return robot, sent_early
    robot, sent_early = run(main())
    assert sent_early == ['StandUp']  # Hello was not sent into the transition
    assert robot.events[1]['by'] == 'duration'


def test_a_trick_whose_progress_never_rises_is_a_timeout_not_done():
    async def main():
        robot = Robot()
        ex = make(robot, registry(Heart=0.1))
        ex.sport_state(1, 0.0)
        ex.submit('r1', [act('Heart')])
        for _ in range(10):
            ex.sport_state(1, 0.0)  # the robot ignored it: progress stays 0
            await asyncio.sleep(0.02)
        assert await until(lambda: not ex.busy)
        return robot
    robot = run(main())
    assert robot.states() == [('Heart', 'started'), ('Heart', 'timeout')]
    assert 'progress never' in robot.events[-1]['reason']
