"""InProcessScheduler: priorities, bound, busy, deadlines, coalescing, cancel_before."""
import asyncio

import pytest

from claudia_llm.core.errors import (
    LLMError,
    LLMHTTPError,
    LLMTimeout,
    RequestCancelled,
    RequestExpired,
    SchedulerBusy,
)
from claudia_llm.core.llm.scheduler.inprocess import InProcessScheduler
from claudia_llm.core.llm.scheduler.request import LLMRequest
from claudia_llm.core.llm.scheduler.slots import SlotLimiter


class FakeResult:
    def __init__(self, text: str):
        self.text = text


class GatedLLM:
    """A stand-in for OllamaChat whose calls finish only when the test opens their gate."""

    model = 'fake-model'
    options = {'temperature': 0.0}

    def __init__(self):
        self.calls = []  # type: List[str]
        self.cancelled = []  # type: List[str]
        self.errors = {}  # type: Dict[str, BaseException]
        self.gates = {}  # type: Dict[str, asyncio.Event]
        self.running = 0
        self.peak = 0

    def gate(self, text: str) -> asyncio.Event:
        return self.gates.setdefault(text, asyncio.Event())

    async def chat(self, text: str, on_chunk=None) -> FakeResult:
        self.calls.append(text)
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await self.gate(text).wait()
        except asyncio.CancelledError:
            self.cancelled.append(text)
            raise
        finally:
            self.running -= 1
        if text in self.errors:
            raise self.errors[text]
        return FakeResult('answer to ' + text)


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def req(text: str, rid: str = '', priority: str = 'normal', created: float = None,
        deadline_s: float = 30.0) -> LLMRequest:
    kwargs = {} if created is None else {'created': created}
    return LLMRequest(request_id=rid or text, text=text, utterance=text, priority=priority,
                      deadline_s=deadline_s, **kwargs)


async def settle():
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_high_runs_before_normal_before_low_fifo_within():
    llm = GatedLLM()
    sched = InProcessScheduler(llm, max_in_flight=1, queue_size=10)
    first = asyncio.ensure_future(sched.submit(req('busy')))
    await settle()
    order = [('low1', 'low'), ('n1', 'normal'), ('high1', 'high'), ('n2', 'normal'),
             ('high2', 'high')]
    tasks = [asyncio.ensure_future(sched.submit(req(t, priority=p))) for t, p in order]
    await settle()
    assert sched.depth() == 5 and sched.in_flight() == 1
    for text in ['busy', 'high1', 'high2', 'n1', 'n2', 'low1']:
        llm.gate(text).set()
        await settle()
    results = await asyncio.gather(first, *tasks)
    assert llm.calls == ['busy', 'high1', 'high2', 'n1', 'n2', 'low1']
    assert [r.text for r in results[1:]] == ['answer to ' + t for t, _ in order]


@pytest.mark.asyncio
async def test_at_most_n_in_flight_rest_waits_in_queue():
    llm = GatedLLM()
    sched = InProcessScheduler(llm, max_in_flight=2, queue_size=10)
    tasks = [asyncio.ensure_future(sched.submit(req('t%d' % i))) for i in range(5)]
    await settle()
    assert (sched.in_flight(), sched.depth(), len(llm.calls)) == (2, 3, 2)
    for i in range(5):
        llm.gate('t%d' % i).set()
    await asyncio.gather(*tasks)
    assert llm.peak == 2 and len(llm.calls) == 5
    assert (sched.in_flight(), sched.depth()) == (0, 0)


@pytest.mark.asyncio
async def test_full_queue_answers_busy_at_once_but_identical_requests_still_join():
    llm = GatedLLM()
    sched = InProcessScheduler(llm, max_in_flight=1, queue_size=2)
    tasks = [asyncio.ensure_future(sched.submit(req(t))) for t in ('a', 'b', 'c')]
    await settle()
    assert sched.depth() == 2
    with pytest.raises(SchedulerBusy) as info:
        await sched.submit(req('d'))
    assert info.value.code == 'busy'
    joined = asyncio.ensure_future(sched.submit(req('c', rid='c-again')))
    await settle()
    for text in 'abc':
        llm.gate(text).set()
    results = await asyncio.gather(*tasks, joined)
    assert llm.calls == ['a', 'b', 'c']
    assert results[3] is results[2]


@pytest.mark.asyncio
async def test_request_past_deadline_at_submit_is_expired():
    sched = InProcessScheduler(GatedLLM(), max_in_flight=1)
    clock_past = LLMRequest('old', 'x', created=1.0, deadline_s=1.0)
    with pytest.raises(RequestExpired) as info:
        await sched.submit(clock_past)
    assert info.value.code == 'expired'


@pytest.mark.asyncio
async def test_waiter_expires_in_queue_and_its_text_never_reaches_the_llm():
    llm = GatedLLM()
    sched = InProcessScheduler(llm, max_in_flight=1)
    blocker = asyncio.ensure_future(sched.submit(req('slow')))
    await settle()
    with pytest.raises(RequestExpired):
        await sched.submit(req('late', deadline_s=0.05))
    assert sched.depth() == 0
    llm.gate('slow').set()
    await blocker
    assert llm.calls == ['slow']


@pytest.mark.asyncio
async def test_deadline_checked_when_dequeued():
    llm, clock = GatedLLM(), Clock()
    sched = InProcessScheduler(llm, max_in_flight=1, clock=clock)
    blocker = asyncio.ensure_future(sched.submit(req('slow', created=clock.now)))
    queued = asyncio.ensure_future(sched.submit(req('queued', created=clock.now,
                                                    deadline_s=5.0)))
    await settle()
    clock.now += 10.0  # the wall clock passes the deadline while the waiter's timer has not
    llm.gate('slow').set()
    await blocker
    with pytest.raises(RequestExpired):
        await queued
    assert llm.calls == ['slow']


@pytest.mark.asyncio
async def test_deadline_checked_when_finished_expires_the_request():
    llm, clock = GatedLLM(), Clock()
    sched = InProcessScheduler(llm, max_in_flight=1, clock=clock)
    task = asyncio.ensure_future(sched.submit(req('q', created=clock.now, deadline_s=5.0)))
    await settle()
    clock.now += 10.0
    llm.gate('q').set()
    with pytest.raises(RequestExpired, match='finished after its deadline'):
        await task
    assert llm.calls == ['q']


@pytest.mark.asyncio
async def test_identical_concurrent_requests_make_one_call():
    llm = GatedLLM()
    sched = InProcessScheduler(llm, max_in_flight=1)
    tasks = [asyncio.ensure_future(sched.submit(req('same', rid='r%d' % i))) for i in range(3)]
    await settle()
    llm.gate('same').set()
    results = await asyncio.gather(*tasks)
    assert llm.calls == ['same']
    assert {r.text for r in results} == {'answer to same'}


@pytest.mark.asyncio
async def test_different_options_do_not_coalesce():
    llm = GatedLLM()
    sched = InProcessScheduler(llm, max_in_flight=2)
    one = asyncio.ensure_future(sched.submit(req('same', rid='a')))
    await settle()
    llm.options = {'temperature': 0.5}
    two = asyncio.ensure_future(sched.submit(req('same', rid='b')))
    await settle()
    llm.gate('same').set()
    await asyncio.gather(one, two)
    assert llm.calls == ['same', 'same']


@pytest.mark.asyncio
async def test_cancelled_waiter_does_not_cancel_the_others():
    llm = GatedLLM()
    sched = InProcessScheduler(llm, max_in_flight=1)
    tasks = [asyncio.ensure_future(sched.submit(req('same', rid='r%d' % i))) for i in range(3)]
    await settle()
    tasks[0].cancel()
    await settle()
    llm.gate('same').set()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(done[0], asyncio.CancelledError)
    assert [r.text for r in done[1:]] == ['answer to same'] * 2
    assert llm.calls == ['same'] and llm.cancelled == []


@pytest.mark.asyncio
async def test_last_waiter_leaving_cancels_the_call_and_frees_the_slot():
    llm = GatedLLM()
    sched = InProcessScheduler(llm, max_in_flight=1)
    lone = asyncio.ensure_future(sched.submit(req('abandoned')))
    nxt = asyncio.ensure_future(sched.submit(req('next')))
    await settle()
    lone.cancel()
    await settle()
    assert llm.cancelled == ['abandoned'] and llm.calls == ['abandoned', 'next']
    llm.gate('next').set()
    assert (await nxt).text == 'answer to next'


@pytest.mark.asyncio
async def test_error_reaches_every_waiter_and_is_not_cached():
    llm = GatedLLM()
    llm.errors['same'] = LLMHTTPError('HTTP 503 from Ollama', status_code=503)
    sched = InProcessScheduler(llm, max_in_flight=1)
    tasks = [asyncio.ensure_future(sched.submit(req('same', rid='r%d' % i))) for i in range(3)]
    await settle()
    llm.gate('same').set()
    errors = await asyncio.gather(*tasks, return_exceptions=True)
    assert [type(e) for e in errors] == [LLMHTTPError] * 3
    assert {(e.code, e.status_code, str(e)) for e in errors} == {
        ('llm_http_error', 503, 'HTTP 503 from Ollama')}
    del llm.errors['same']
    again = await sched.submit(req('same', rid='again'))
    assert again.text == 'answer to same' and llm.calls == ['same', 'same']


@pytest.mark.asyncio
async def test_unexpected_exception_becomes_llm_error_with_cause():
    llm = GatedLLM()
    llm.errors['boom'] = RuntimeError('client bug')
    llm.gate('boom').set()
    sched = InProcessScheduler(llm, max_in_flight=1)
    with pytest.raises(LLMError) as info:
        await sched.submit(req('boom'))
    assert isinstance(info.value.__cause__, RuntimeError)


@pytest.mark.asyncio
async def test_timeout_error_passes_through_unchanged():
    llm = GatedLLM()
    llm.errors['t'] = LLMTimeout('no answer in 8.0 s')
    llm.gate('t').set()
    sched = InProcessScheduler(llm, max_in_flight=1)
    with pytest.raises(LLMTimeout):
        await sched.submit(req('t'))


@pytest.mark.asyncio
async def test_cancel_before_cancels_older_requests_only():
    llm = GatedLLM()
    sched = InProcessScheduler(llm, max_in_flight=1, clock=Clock(104.0))
    running = asyncio.ensure_future(sched.submit(req('running', created=100.0)))
    old = asyncio.ensure_future(sched.submit(req('old', created=101.0)))
    new = asyncio.ensure_future(sched.submit(req('new', created=103.0)))
    await settle()
    assert sched.cancel_before(102.0) == 2
    for task in (running, old):
        with pytest.raises(RequestCancelled):
            await task
    await settle()
    llm.gate('new').set()
    assert (await new).text == 'answer to new'
    assert llm.calls == ['running', 'new'] and llm.cancelled == ['running']


@pytest.mark.asyncio
async def test_higher_priority_joiner_promotes_the_queued_job():
    llm = GatedLLM()
    sched = InProcessScheduler(llm, max_in_flight=1)
    tasks = [asyncio.ensure_future(sched.submit(req(t, priority=p)))
             for t, p in (('busy', 'normal'), ('n', 'normal'), ('x', 'low'))]
    await settle()
    tasks.append(asyncio.ensure_future(sched.submit(req('x', rid='x-high', priority='high'))))
    await settle()
    for text in ('busy', 'x', 'n'):
        llm.gate(text).set()
        await settle()
    await asyncio.gather(*tasks)
    assert llm.calls == ['busy', 'x', 'n']


@pytest.mark.asyncio
async def test_aclose_answers_waiters_cancelled():
    llm = GatedLLM()
    sched = InProcessScheduler(llm, max_in_flight=1)
    tasks = [asyncio.ensure_future(sched.submit(req(t))) for t in ('a', 'b')]
    await settle()
    await sched.aclose()
    for task in tasks:
        with pytest.raises(RequestCancelled):
            await task
    with pytest.raises(RequestCancelled):
        await sched.submit(req('c'))


@pytest.mark.asyncio
async def test_shared_slots_bound_two_schedulers_together():
    llm = GatedLLM()
    slots = SlotLimiter(1)
    one, two = InProcessScheduler(llm, slots=slots), InProcessScheduler(llm, slots=slots)
    a = asyncio.ensure_future(one.submit(req('a')))
    b = asyncio.ensure_future(two.submit(req('b')))
    await settle()
    assert llm.calls == ['a'] and two.depth() == 1
    llm.gate('a').set()
    llm.gate('b').set()
    await asyncio.gather(a, b)
    assert llm.peak == 1 and llm.calls == ['a', 'b']


@pytest.mark.asyncio
async def test_slot_handed_over_when_waiter_cancelled():
    slots = SlotLimiter(1)
    await slots.acquire()
    first = asyncio.ensure_future(slots.acquire())
    second = asyncio.ensure_future(slots.acquire())
    await settle()
    slots.release()  # handed to `first` ...
    first.cancel()  # ... which is cancelled before it runs: the slot must pass on
    await settle()
    assert second.done() and slots.in_use() == 1


def test_invalid_arguments_name_the_value():
    with pytest.raises(ValueError, match='-1'):
        InProcessScheduler(GatedLLM(), queue_size=-1)
    with pytest.raises(ValueError, match='0'):
        SlotLimiter(0)
    with pytest.raises(ValueError, match='urgent'):
        req('x', priority='urgent')
