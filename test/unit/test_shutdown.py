"""Graceful stop (core.shutdown): no answer is computed and dropped.

Answers in flight publish within the grace period; the rest is handed over to the queue
or answered ``shutting_down``.
"""
import asyncio
import time

from offline_engine import offline_settings

from claudia_llm.core import shutdown
from claudia_llm.core.app import Engine
from claudia_llm.core.errors import RequestHandedOver
from claudia_llm.core.llm.ollama import LLMResult
from claudia_llm.core.record import Answer
from claudia_llm.core.replies import FALLBACK


def engine_settings(**overrides):
    return offline_settings({'cache.semantic_enabled': False, 'scheduler.deadline_s': 60.0},
                            overrides)


class SlowLLM:
    """``chat`` answers after the delay its text asks for ('quick ...' 0.1 s, else 30 s)."""

    model = 'qwen2.5:7b'

    def __init__(self):
        self.finished = []

    async def chat(self, text, on_chunk=None):
        await asyncio.sleep(0.1 if text.startswith('quick') else 30.0)
        self.finished.append(text)
        return LLMResult(answer=Answer(reply='answer to ' + text), model=self.model,
                         prompt_tokens=1, completion_tokens=1, total_ms=1.0, load_ms=0.0,
                         prompt_eval_ms=0.0, eval_ms=0.0, ttft_ms=None)


async def started(engine, texts, still_open):
    """Start ``handle`` for each text; return once ``still_open`` of them wait (bounded)."""
    tasks = [asyncio.ensure_future(engine.pipeline.handle(t)) for t in texts]
    for _ in range(1000):
        if len(engine.pipeline.open_answers()) >= still_open:
            break
        await asyncio.sleep(0.01)
    return tasks


def test_in_process_answers_in_the_grace_publish_and_the_rest_get_shutting_down():
    records, llm = [], SlowLLM()

    async def main():
        engine = Engine(engine_settings(), records.append)
        engine.scheduler.llm = llm
        await engine.start()
        try:
            tasks = await started(engine, ['quick question', 'long story please', '座って'], 2)
            report = await engine.drain(grace_s=1.0)
            await asyncio.gather(*tasks, return_exceptions=True)
            return report, engine.pipeline.open_answers()
        finally:
            await engine.aclose()

    report, still_open = asyncio.run(main())
    by_text = {r.utterance: r for r in records}
    assert len(records) == 3 and still_open == {}
    assert by_text['quick question'].source == 'llm' and llm.finished == ['quick question']
    assert by_text['座って'].source == 'exact'
    late = by_text['long story please']
    assert late.error['code'] == 'shutting_down' and late.request_id
    assert late.reply == FALLBACK['shutting_down']['en']
    assert (report.open, report.answered, report.handed_over, report.shutting_down) == (
        2, 1, 0, 1)  # the exact hit was published before the stop began


class HandingScheduler:
    """A queue that only answers at hand-over, as the Redis scheduler does when stopping."""

    def __init__(self):
        self.waiting = []

    async def submit(self, request, on_event=None):
        future = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        return await future

    def hand_over(self):
        for future in self.waiting:
            future.set_exception(RequestHandedOver('left in the queue'))
        return len(self.waiting)

    def depth(self):
        return len(self.waiting)

    def cancel_before(self, stamp):
        return 0


def test_requests_handed_over_to_the_queue_get_no_record_from_the_stopping_node():
    records, queue = [], HandingScheduler()

    async def main():
        engine = Engine(engine_settings(), records.append)
        engine.pipeline.scheduler = queue
        try:
            await started(engine, ['tell me a story', 'and another one'], 2)
            begun = time.monotonic()
            report = await shutdown.drain(engine.pipeline, queue, grace_s=0.2)
            return report, time.monotonic() - begun
        finally:
            await engine.aclose()

    report, took = asyncio.run(main())
    assert records == []  # the next node publishes these
    assert (report.open, report.handed_over, report.shutting_down) == (2, 2, 0)
    assert took < 0.2 + shutdown.SETTLE_S + 5.0  # bounded, not a timing claim


def test_a_stop_with_nothing_open_reports_nothing():
    async def main():
        engine = Engine(engine_settings(), lambda record: None)
        try:
            return await engine.drain(grace_s=3.0)
        finally:
            await engine.aclose()

    report = asyncio.run(main())
    assert (report.open, report.answered, report.handed_over, report.shutting_down) == (
        0, 0, 0, 0)
    assert str(report) == ('0 open: 0 answered, 0 handed over to the Redis queue, '
                           '0 answered shutting_down')
