"""Streamed LLM answers in the pipeline: early actions, reply pieces, errors after actions.

The engine runs with the in-process scheduler and a stand-in LLM that streams a scripted
content token by token (Qwen2.5 pieces) through ``on_chunk``; the test holds the stream
after a chosen prefix to see what was published before the answer ended.
"""
import asyncio
import json

from offline_engine import offline_settings

from claudia_llm.core.app import Engine
from claudia_llm.core.errors import LLMMalformedOutput
from claudia_llm.core.llm.ollama import LLMResult
from claudia_llm.core.replies import FALLBACK
from claudia_llm.testing.qwen_tokens import token_pieces


def content(reply, *names, kind='command'):
    return json.dumps({'actions': [{'name': n} for n in names], 'reply': reply, 'kind': kind},
                      ensure_ascii=False)


class StreamingLLM:
    """Streams ``contents[text]``; stops before the chunk containing ``hold_at`` until
    ``gate`` is set (so the test sees what happened mid-stream)."""

    model = 'qwen2.5:7b'

    def __init__(self, profile, contents, hold_at=None, malformed=()):
        self.profile, self.contents, self.hold_at = profile, contents, hold_at
        self.malformed = set(malformed)
        self.options = {}
        self.gate, self.held = asyncio.Event(), asyncio.Event()
        self.calls, self.cancelled = [], []

    async def chat(self, text, on_chunk=None):
        self.calls.append(text)
        body, sent = self.contents[text], ''
        try:
            for piece in token_pieces(body):
                if self.hold_at is not None and self.hold_at in sent + piece \
                        and not self.gate.is_set():
                    self.held.set()
                    await self.gate.wait()
                sent += piece
                if on_chunk is not None:
                    on_chunk(piece)
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            self.cancelled.append(text)
            raise
        if text in self.malformed:
            raise LLMMalformedOutput('LLM output is not JSON')
        return LLMResult(answer=self.profile.parse(body), model=self.model, prompt_tokens=1,
                         completion_tokens=1, total_ms=1.0, load_ms=0.0, prompt_eval_ms=0.0,
                         eval_ms=0.0, ttft_ms=None)


class Outputs:
    """What the engine published, in order: ('action', id, names), ('piece', dict),
    ('record', record)."""

    def __init__(self):
        self.log = []

    def action(self, record):
        self.log.append(('action', record.request_id, [a.name for a in record.actions]))

    def piece(self, piece):
        self.log.append(('piece', json.loads(piece.to_json())))

    def record(self, record):
        self.log.append(('record', record))

    def pieces(self, request_id):
        return [e[1] for e in self.log if e[0] == 'piece' and e[1]['request_id'] == request_id]

    def actions(self, request_id):
        return [e[2] for e in self.log if e[0] == 'action' and e[1] == request_id]


def settings(**overrides):
    return offline_settings({'cache.semantic_enabled': False, 'safety.cooldown_s': 0.0}, overrides)


def run(steps, contents, hold_at=None, malformed=(), **overrides):
    """Run ``await steps(engine, llm, out)`` on a started engine; return (its value, out)."""
    out = Outputs()

    async def main():
        engine = Engine(settings(**overrides), out.record, publish_actions=out.action,
                        publish_piece=out.piece)
        llm = StreamingLLM(engine.profile, contents, hold_at, malformed)
        engine.scheduler.llm = llm
        await engine.start()
        try:
            return await steps(engine, llm, out)
        finally:
            await engine.aclose()

    return asyncio.run(main()), out


def utterance(text, rid):
    return json.dumps({'text': text, 'id': rid})


async def held(engine, llm, out, text, rid='r1'):
    """Start handle(text), wait until the stream is held; return (task, log so far)."""
    task = asyncio.ensure_future(engine.pipeline.handle(utterance(text, rid)))
    await asyncio.wait_for(llm.held.wait(), 5.0)
    for _ in range(5):
        await asyncio.sleep(0)
    return task, list(out.log)


ASK = 'show our guests how polite you are'
SIT_HELLO = content('Hello, everyone. And now I sit!', 'Hello', 'Sit')


def test_actions_and_first_piece_go_out_while_the_answer_streams_and_nothing_changes():
    async def steps(engine, llm, out):
        task, before = await held(engine, llm, out, ASK)
        llm.gate.set()
        record = await task
        again = await engine.pipeline.handle(ASK)
        return before, record, again

    (before, record, again), out = run(steps, {ASK: SIT_HELLO}, hold_at='sit!')
    # mid-stream: the actions and the first sentence are out, no record yet
    assert [e[0] for e in before] == ['action', 'piece']
    assert before[0][2] == ['Hello', 'Sit']
    assert before[1][1] == {'request_id': 'r1', 'seq': 0, 'text': 'Hello, everyone.',
                            'final': False}
    assert record.source == 'llm' and record.error is None
    assert [a.name for a in record.actions] == ['Hello', 'Sit'] and record.actions_published
    assert out.actions('r1') == [['Hello', 'Sit']]  # published once
    assert [p['text'] for p in out.pieces('r1')] == ['Hello, everyone.', 'And now I sit!', '']
    assert [p['final'] for p in out.pieces('r1')] == [False, False, True]
    assert [p['seq'] for p in out.pieces('r1')] == [0, 1, 2]
    assert record.reply == 'Hello, everyone. And now I sit!'
    lat = record.latency_ms
    assert lat['first_action'] <= lat['total'] and lat['first_reply'] <= lat['total']
    assert 'first_action' not in record.to_dict() and 'actions_published' not in \
        record.to_dict()
    # the answer was cached: the repeat is an exact hit with one final piece
    assert again.source == 'exact' and again.intent == ['Hello', 'Sit']
    last = out.pieces(again.request_id)
    assert [(p['seq'], p['text'], p['final']) for p in last] == [(0, again.reply, True)]


def test_a_completion_malformed_after_its_actions_is_recorded_with_them_and_not_cached():
    text = 'impress the visitors with something'
    body = content('Sitting. Once upon a time.', 'Sit')

    async def steps(engine, llm, out):
        first = await engine.pipeline.handle(utterance(text, 'm1'))
        second = await engine.pipeline.handle(utterance(text, 'm2'))
        return first, second, list(llm.calls)

    (first, second, calls), out = run(steps, {text: body}, malformed=[text])
    assert first.error['code'] == 'llm_malformed_output' and first.source == 'llm'
    assert [a.name for a in first.actions] == ['Sit'] and out.actions('m1') == [['Sit']]
    assert first.reply == 'Sitting. Once upon a time.'  # what was already spoken
    assert out.pieces('m1')[-1] == {'request_id': 'm1', 'seq': 2, 'text': '', 'final': True}
    assert calls == [text, text]  # never cached: asked again
    assert second.error['code'] == 'llm_malformed_output'


def test_a_refused_action_list_mutes_the_llm_reply_and_speaks_the_refusal():
    text = 'amaze me with your acrobatics'
    body = content('Here comes a flip!', 'FrontFlip')

    async def steps(engine, llm, out):
        return await engine.pipeline.handle(utterance(text, 'f1'))

    record, out = run(steps, {text: body})
    assert record.actions == [] and out.actions('f1') == []
    assert record.reply == FALLBACK['refused']['en']
    assert out.pieces('f1') == [{'request_id': 'f1', 'seq': 0, 'text': record.reply,
                                 'final': True}]


def test_a_stop_word_mid_stream_cancels_the_call_and_nothing_follows_the_stopmove():
    async def steps(engine, llm, out):
        task, before = await held(engine, llm, out, ASK)
        stop = await engine.pipeline.handle(utterance('止まれ！', 's1'))
        after_stop = len(out.log)
        record = await task
        return before, stop, record, out.log[after_stop:], list(llm.cancelled)

    (before, stop, record, after, cancelled), out = run(steps, {ASK: SIT_HELLO},
                                                        hold_at='sit!')
    assert [e[0] for e in before] == ['action', 'piece']
    assert stop.source == 'emergency' and out.actions('s1') == [['StopMove']]
    assert out.pieces('s1') == [{'request_id': 's1', 'seq': 0, 'text': stop.reply,
                                 'final': True}]
    assert cancelled == [ASK]  # the LLM call itself was cancelled
    assert record.error['code'] == 'cancelled' and record.reply == ''
    assert [a.name for a in record.actions] == ['Hello', 'Sit']  # what went out before
    assert [e[0] for e in after] == ['record']  # no action, no piece after the stop


def test_stream_actions_false_waits_for_the_whole_answer():
    async def steps(engine, llm, out):
        task, before = await held(engine, llm, out, ASK)
        llm.gate.set()
        return before, await task

    (before, record), out = run(steps, {ASK: SIT_HELLO}, hold_at='sit!',
                                **{'llm.stream_actions': False})
    assert before == []
    assert [e[0] for e in out.log] == ['action', 'piece', 'record']
    assert out.pieces('r1') == [{'request_id': 'r1', 'seq': 0, 'text': record.reply,
                                 'final': True}]


def test_a_malformed_completion_without_actions_is_a_fallback_that_keeps_what_was_said():
    text = 'impress the visitors with a poem'
    body = content('Roses are red. Violets are', kind='chat')

    async def steps(engine, llm, out):
        return await engine.pipeline.handle(utterance(text, 'p1'))

    record, out = run(steps, {text: body}, malformed=[text])
    assert record.source == 'fallback' and record.error['code'] == 'llm_malformed_output'
    assert record.actions == [] and out.actions('p1') == []
    assert record.reply == 'Roses are red. Violets are'  # said already: not contradicted
    assert [p['final'] for p in out.pieces('p1')][-1] is True
