"""InProcessScheduler streaming: every coalesced waiter gets the actions once and the pieces;
a late joiner gets what was already said; a waiter that left gets nothing more."""
import asyncio
import json

import pytest

from claudia_llm.core.llm.prompt import PromptProfile
from claudia_llm.core.llm.scheduler.events import EventRelay
from claudia_llm.core.llm.scheduler.inprocess import InProcessScheduler
from claudia_llm.core.llm.scheduler.request import LLMRequest
from claudia_llm.core.safety.actions import ActionRegistry
from claudia_llm.testing.qwen_tokens import token_pieces

PROFILE = PromptProfile(ActionRegistry.load(), max_actions=4)
CONTENT = json.dumps({'actions': [{'name': 'Hello'}], 'reply': 'Hi there. Nice to meet you!',
                      'kind': 'command'})


class HeldStream:
    """Streams CONTENT; pauses after the reply's first sentence until ``gate`` opens."""

    model, options, profile = 'm', {}, PROFILE

    def __init__(self):
        self.gate, self.paused = asyncio.Event(), asyncio.Event()

    async def chat(self, text, on_chunk=None):
        sent = ''
        for piece in token_pieces(CONTENT):
            if 'Nice' in sent + piece and not self.gate.is_set():
                self.paused.set()
                await self.gate.wait()
            sent += piece
            on_chunk(piece)
            await asyncio.sleep(0)
        return PROFILE.parse(CONTENT)


def collector():
    seen = []
    return seen, lambda events: seen.append((
        None if events.actions is None else [a.name for a in events.actions],
        list(events.pieces)))


def flat(seen):
    actions = [a for a, _p in seen if a is not None]
    return actions, [p for _a, ps in seen for p in ps]


@pytest.mark.asyncio
async def test_coalesced_waiters_share_the_events_and_a_late_one_gets_a_replay():
    llm = HeldStream()
    sched = InProcessScheduler(llm, max_in_flight=1, queue_size=4)
    first, on_first = collector()
    late, on_late = collector()
    leaving, on_leaving = collector()
    a = asyncio.ensure_future(sched.submit(LLMRequest('a', 'hi'), on_event=on_first))
    c = asyncio.ensure_future(sched.submit(LLMRequest('c', 'hi'), on_event=on_leaving))
    await asyncio.wait_for(llm.paused.wait(), 5.0)
    c.cancel()  # leaves before the rest of the reply
    b = asyncio.ensure_future(sched.submit(LLMRequest('b', 'hi'), on_event=on_late))
    await asyncio.sleep(0)
    assert flat(late) == ([['Hello']], ['Hi there.'])  # replayed on joining
    llm.gate.set()
    results = await asyncio.gather(a, b)
    assert all(r.reply == 'Hi there. Nice to meet you!' for r in results)
    assert flat(first) == ([['Hello']], ['Hi there.', 'Nice to meet you!'])
    assert flat(late) == flat(first)
    assert flat(leaving) == ([['Hello']], ['Hi there.'])
    await sched.aclose()


def test_relay_without_profile_gives_nothing_and_a_bad_listener_is_skipped():
    class NoProfile:
        pass

    relay = EventRelay(NoProfile(), lambda: [])
    relay.on_chunk('{"actions": []')
    assert relay.sent == []

    got = []

    def bad(events):
        raise RuntimeError('listener bug')

    relay = EventRelay(HeldStream(), lambda: [bad, got.append], max_events=1)
    for piece in token_pieces(CONTENT):
        relay.on_chunk(piece)
    assert len(got) == 1 and [a.name for a in got[0].actions] == ['Hello']


def test_a_partial_entry_reaches_only_a_waiter_still_waiting():
    import types

    from claudia_llm.core.llm.scheduler.events import events_to_json
    from claudia_llm.core.llm.scheduler.partials import dispatch, is_partial
    from claudia_llm.core.llm.stream_parse import StreamEvents

    loop = asyncio.new_event_loop()
    try:
        waiting, answered = loop.create_future(), loop.create_future()
        answered.set_result('done')
        got = []
        sched = types.SimpleNamespace(
            _waiters={'t1': (None, waiting), 't2': (None, answered), 't3': (None, waiting)},
            _listeners={'t1': got.append, 't2': got.append}, _answered=set())
        entry = {'ticket': 't1', 'partial': events_to_json(StreamEvents(pieces=['Hi.']))}
        assert is_partial(entry) and not is_partial({'ticket': 't1', 'outcome': '{}'})
        for ticket in ('t1', 't2', 't3', 'orphan'):
            dispatch(sched, ticket, dict(entry, ticket=ticket))
        dispatch(sched, 't1', {'ticket': 't1', 'partial': b'not json'})
        assert [e.pieces for e in got] == [['Hi.']]
    finally:
        loop.close()
