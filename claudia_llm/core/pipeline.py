"""The pipeline: one utterance in, exactly one ``ResponseRecord`` out.

Tiers, fastest first: input checks -> emergency words -> exact cache (with sequences
composed from cached commands) -> semantic cache -> LLM through the scheduler; then
the safety policy, with the robot state read at that moment. Every accepted utterance
gets one record, error or not: ``handle`` never raises (except on cancellation).

Actions the policy lets through go out at once through ``publish_actions`` (the record
follows). A streamed LLM answer (``stream_actions``) is decided when its action list
closes, and its reply is spoken in pieces (``publish_piece``) while it is generated;
nothing that arrives later changes the published actions (``core.reply_stream``).
"""
import asyncio
import functools
import logging
import time
from typing import Callable, Dict, List, Optional, Union

from claudia_llm.core.cache.admission import admit
from claudia_llm.core.cache.exact import ExactCache
from claudia_llm.core.llm.scheduler.request import LLMRequest
from claudia_llm.core.safety.policy import SafetyPolicy
from claudia_llm.core.safety.robot_state import RobotState
from claudia_llm.core.understanding import commands, emergency, motion, normalize
from claudia_llm.core.understanding.inputs import Utterance, new_request_id, parse_utterance
from claudia_llm.core.understanding.sentence_type import sentence_type

from .errors import ClaudiaError, InputError, LLMError, RequestHandedOver
from .record import Action, Answer, PolicyChange, ResponseRecord
from .replies import fallback_reply
from .reply_stream import PublishPiece, ReplyPieces, StreamedAnswer, fail_after_actions

log = logging.getLogger(__name__)

Publish = Callable[[ResponseRecord], None]

# Policy rules that refuse an action for safety; other drops (cooldown, already in the
# posture) leave the reply as it is, unless they leave nothing to do (NOTHING_TO_DO).
REFUSAL_RULES = frozenset(('unknown_action', 'api_id_mismatch', 'disabled', 'not_from_llm',
                           'high_risk', 'battery_critical', 'battery_low'))
# When every action was dropped by one of these, the reply says so instead of promising a
# move the robot will not make ("Sitting." while it just sat or already sits).
NOTHING_TO_DO = (('already_in_posture', 'already'), ('cooldown', 'just_done'))


class Pipeline:
    """Ties the tiers together; built by ``core.app.Engine``.

    Args:
        registry: the Go2 action table (``ActionRegistry``).
        policy: the safety policy every action list passes.
        robot_state: posture and battery, read when actions are checked.
        exact: the exact cache.
        semantic: the semantic cache or None when disabled.
        scheduler: the LLM request scheduler (``core.scheduler``).
        publish: called once per record, from the event loop thread.
        publish_actions: called with the record as soon as the policy let its actions
            through (before ``publish``; the record's ``actions_published`` is then True);
            None: the actions go out with the record.
        publish_piece: called with each ``ReplyPiece`` of a reply; None: no pieces.
        stream_actions: stream LLM answers (decide the actions when their list closes,
            speak the reply in pieces); False: wait for the whole answer.
        model: Ollama model tag, copied into records.
        max_chars, max_bytes: input limits.
        deadline_s: how long an LLM request may wait and run, seconds.
        spellings: the lexicon's kana spellings (``Lexicon.spellings()``), so commands
            written in other scripts reach the exact tier; None: utterances as written.
    """

    def __init__(self, *, registry, policy: SafetyPolicy, robot_state: RobotState,
                 exact: ExactCache, semantic, scheduler, publish: Publish, model: str,
                 max_chars: int = 500, max_bytes: int = 4096, deadline_s: float = 10.0,
                 spellings=None, publish_actions: Optional[Publish] = None,
                 publish_piece: Optional[PublishPiece] = None, stream_actions: bool = True):
        self.registry = registry
        self.policy = policy
        self.robot_state = robot_state
        self.exact = exact
        self.semantic = semantic
        self.scheduler = scheduler
        self.publish = publish
        self.publish_actions, self.publish_piece = publish_actions, publish_piece
        self.stream_actions = stream_actions
        self.model = model
        self.max_chars = max_chars
        self.max_bytes = max_bytes
        self.deadline_s = deadline_s
        self.spellings = spellings
        self._last_emergency = 0.0  # wall-clock stamp of the last emergency stop
        self._open = {}  # type: Dict[asyncio.Task, ResponseRecord]  # handle() calls running
        # High-risk actions are only understood from strict keys (see core.commands).
        self.high_risk = frozenset(spec.name for spec in registry if spec.risk == 'high')
        move = registry.get('Move')
        # Distance, angle and time phrasings (三歩前へ) become one timed Move by rule.
        self._motion = (None if move is None or not move.enabled
                        else functools.partial(motion.parse, move_spec=move,
                                               phrasing=motion.Phrasing.from_spec(move)))

    async def handle(self, raw: Union[str, bytes], received: Optional[float] = None,
                     stamp: Optional[float] = None) -> ResponseRecord:
        """Answer one raw ``/claudia/utterance`` message and publish its record.

        Args:
            raw: the message data (text or bytes).
            received: ``time.perf_counter()`` when the message arrived (latency base).
            stamp: wall-clock time of arrival, seconds since the epoch.
        """
        received = time.perf_counter() if received is None else received
        stamp = time.time() if stamp is None else stamp
        record = ResponseRecord(request_id='', utterance='', stamp=stamp, model=self.model)
        task = asyncio.current_task()
        self._open[task] = record
        pieces = ReplyPieces(record, self.publish_piece, received)
        try:
            await self._answer(raw, record, received, pieces)
        except asyncio.CancelledError:
            raise
        except RequestHandedOver as exc:  # stopping: the next node publishes this one
            log.info('request %s: %s', record.request_id, exc)
            return record
        except InputError as exc:
            record.request_id = record.request_id or exc.request_id
            self._fail(record, exc.code, str(exc))
        except ClaudiaError as exc:
            self._fail(record, exc.code, str(exc))
        except Exception as exc:  # noqa: BLE001 - no accepted utterance goes unanswered
            log.exception('internal error answering %r', record.utterance)
            self._fail(record, 'internal_error', '%s: %s' % (type(exc).__name__, exc))
        finally:
            self._open.pop(task, None)
        record.request_id = record.request_id or new_request_id()
        record.latency_ms['total'] = (time.perf_counter() - received) * 1000.0
        self._publish(record, pieces)
        return record

    def open_answers(self) -> Dict['asyncio.Task', ResponseRecord]:
        """``{task: record so far}`` of the ``handle`` calls not finished yet (a copy)."""
        return dict(self._open)

    def answer_shutting_down(self, record: ResponseRecord) -> None:
        """Publish ``record`` (of a ``handle`` call cancelled at shutdown) as ``shutting_down``.

        For an utterance the node accepted but can neither answer before it stops nor hand
        to another node (Redis down): one clear record instead of none.
        """
        record.request_id = record.request_id or new_request_id()
        record.latency_ms['total'] = max(time.time() - record.stamp, 0.0) * 1000.0
        self._fail(record, 'shutting_down', 'the node stopped before this utterance was '
                   'answered, and no other node can take it over')
        self._publish(record)

    def _publish(self, record: ResponseRecord, pieces: Optional[ReplyPieces] = None) -> None:
        if pieces is None:
            pieces = ReplyPieces(record, self.publish_piece, time.perf_counter())
        pieces.close(record.reply)
        record.queue_depth = self.scheduler.depth()
        record.redis = self.exact.store.status()
        record.age_ms = max(time.time() - record.stamp, 0.0) * 1000.0
        self.publish(record)

    async def handle_orphan(self, request: LLMRequest, result, error) -> ResponseRecord:
        """Publish the record of an LLM request whose waiter is gone (node restarted).

        The scheduler calls this once per orphaned request with its result or error
        (``expired`` for ones past their deadline); the safety policy runs on the robot
        state of now, so a late answer can never act on a stale posture.
        """
        record = ResponseRecord(request_id=request.request_id, utterance=request.utterance,
                                stamp=request.created, normalized=request.text,
                                model=self.model, priority=request.priority)
        started = time.perf_counter()
        if error is not None:
            self._fail(record, error.code, str(error))
        else:
            record.source, record.model = 'llm', result.model or self.model
            await self._admit(request.utterance, result.answer)
            record.reply = result.answer.reply
            record.intent = [a.name for a in result.answer.intent]
            self._apply_policy(record, result.answer.intent, record.stamp)
        record.latency_ms['total'] = max(time.time() - request.created, 0.0) * 1000.0
        record.latency_ms['orphan'] = (time.perf_counter() - started) * 1000.0
        self._publish(record)
        return record

    async def _answer(self, raw, record: ResponseRecord, received: float,
                      pieces: ReplyPieces) -> None:
        if isinstance(raw, str):
            record.utterance = raw[:self.max_chars]
        utterance = parse_utterance(raw, self.max_chars, self.max_bytes)
        record.request_id, record.utterance = utterance.request_id, utterance.text
        record.priority = utterance.priority
        lap = _Lap(record, received)
        if emergency.is_emergency(utterance.text):
            return self._emergency(record, lap)
        record.normalized = normalize.normalize(utterance.text)
        lap('normalize')
        answer = await self._exact_tier(utterance.text, record)
        lap('exact')
        if answer is None and self.semantic is not None:
            answer = await self._semantic_tier(utterance.text, record)
            lap('semantic')
        if answer is None:
            answer = await self._llm_tier(utterance, record, lap, pieces)
        if answer is None:
            return
        record.reply = answer.reply
        record.intent = [a.name for a in answer.intent]
        self._apply_policy(record, answer.intent, record.stamp)
        lap('policy')

    def _emergency(self, record: ResponseRecord, lap) -> None:
        """Send StopMove at once; cancel queued LLM work and suppress in-flight actions."""
        self._last_emergency = record.stamp
        record.source = 'emergency'
        record.reply = fallback_reply('stop', record.utterance)
        record.intent = [emergency.EMERGENCY_ACTION]
        stop = self.registry.get(emergency.EMERGENCY_ACTION)
        self._apply_policy(record, [Action(stop.name, stop.api_id)], record.stamp)
        lap('emergency')
        self.scheduler.cancel_before(record.stamp)

    async def _exact_tier(self, text: str, record: ResponseRecord) -> Optional[Answer]:
        kind = sentence_type(text)  # a question never gets a statement's answer

        async def lookup(key: str) -> Optional[Answer]:
            hit = await self.exact.check(key, kind)
            return hit.answer if hit is not None else None

        answer = await commands.compose_async(text, lookup, self.high_risk, self.spellings,
                                              self._motion)
        if answer is not None:
            record.source = 'exact'
        return answer

    async def _semantic_tier(self, text: str, record: ResponseRecord) -> Optional[Answer]:
        hit = await self.semantic.check(text)
        if hit is None:
            return None
        record.source = 'semantic'
        record.cache = {'key': hit.key, 'matched': hit.matched_text,
                        'score': round(float(hit.score), 4)}
        return hit.answer

    async def _llm_tier(self, utterance: Utterance, record: ResponseRecord,
                        lap, pieces: ReplyPieces) -> Optional[Answer]:
        """The LLM's answer, or None when the record is already complete.

        Streamed: the actions were decided (and published) when their list closed; the
        answer's rest cannot change them. An error after they went out is recorded with
        them (never cached).
        """
        request = LLMRequest(request_id=record.request_id, text=utterance.text,
                             utterance=utterance.text, priority=utterance.priority,
                             created=record.stamp, deadline_s=self.deadline_s)
        streamed = None
        try:
            if self.stream_actions:
                streamed = StreamedAnswer(
                    pieces, lambda actions: self._decide_early(record, actions),
                    lambda: record.stamp < self._last_emergency)
                result = await self.scheduler.submit(request, on_event=streamed.on_event)
            else:
                result = await self.scheduler.submit(request)
        except LLMError as exc:
            lap('llm')
            if record.actions_published:
                fail_after_actions(record, exc, pieces,  # they went out: recorded with them
                                   stopped=record.stamp < self._last_emergency)
            else:
                self._fail(record, exc.code, str(exc))
                if pieces.spoken and not pieces.muted:
                    record.reply = pieces.spoken_text()  # said already; not contradicted
            return None
        lap('llm')
        record.source = 'llm'
        record.model = result.model or self.model
        if streamed is None or not streamed.decided:
            await self._admit(utterance.text, result.answer)
            return result.answer
        if streamed.reply_stands:
            record.reply = result.answer.reply
        if [a.name for a in result.answer.intent] == record.intent:
            await self._admit(utterance.text, result.answer)
        return None

    def _decide_early(self, record: ResponseRecord, actions: List[Action]) -> bool:
        """Policy and publication of a streamed answer's actions; True: its reply stands."""
        record.source = 'llm'
        record.intent = [a.name for a in actions]
        return not self._apply_policy(record, actions, record.stamp)

    async def _admit(self, text: str, answer: Answer) -> None:
        """Cache a valid LLM answer when the admission policy allows it."""
        if not admit(answer, text):
            return
        key = commands.store_key(text, answer, self.high_risk)
        await self.exact.store_answer(key, answer, source='llm', sentence=sentence_type(text))
        if self.semantic is not None:
            await self.semantic.store(text, answer, source='llm')

    def _apply_policy(self, record: ResponseRecord, intent: List[Action],
                      received_stamp: float) -> bool:
        """Run the policy on the current robot state; suppress pre-emergency actions.

        What it lets through is published at once (``_send_actions``).

        Returns:
            True when the reply was replaced (the policy refused or withheld actions, or
            left nothing to do).
        """
        if intent and record.source != 'emergency' and received_stamp < self._last_emergency:
            record.policy = [PolicyChange(a.name, 'emergency_stop',
                                          'an emergency stop came after this utterance')
                             for a in intent]
            record.reply = ''  # the robot has just said it is stopping
            return True
        result = self.policy.check(intent, record.source, self.robot_state.snapshot(),
                                   age_s=time.time() - received_stamp)
        if result.actions:
            result = self.policy.commit(record.request_id, result)
        record.actions, record.policy = result.actions, result.changes
        replaced = False
        if any(c.rule == 'stale' for c in result.changes):
            # Said too long ago to move now; the reply must say so, not promise it.
            record.reply, replaced = fallback_reply('stale', record.utterance), True
        if record.actions:
            self.robot_state.assume_after(record.actions, self.registry)
            self._send_actions(record)
        elif intent and any(c.rule in REFUSAL_RULES for c in result.changes):
            # The reply is spoken: it must not promise what the policy refused.
            record.reply, replaced = fallback_reply('refused', record.utterance), True
        elif intent and not record.actions:
            rules = {c.rule for c in result.changes}
            for rule, code in NOTHING_TO_DO:
                if rule in rules:
                    record.reply, replaced = fallback_reply(code, record.utterance), True
                    break
        return replaced

    def _send_actions(self, record: ResponseRecord) -> None:
        """Publish the record's actions now (``publish_actions``), before the record."""
        if self.publish_actions is None or record.actions_published:
            return
        record.latency_ms['first_action'] = max(time.time() - record.stamp, 0.0) * 1000.0
        record.actions_published = True
        self.publish_actions(record)

    def _fail(self, record: ResponseRecord, code: str, message: str) -> None:
        record.source = 'fallback'
        record.intent, record.actions = [], []
        record.reply = fallback_reply(code, record.utterance)
        record.set_error(code, message)
        log.info('request %s: %s (%s)', record.request_id or '-', code, message)


class _Lap:
    """Records stage latencies in ms since the previous lap."""

    def __init__(self, record: ResponseRecord, start: float):
        self._record, self._last = record, start

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        self._record.latency_ms[stage] = (now - self._last) * 1000.0
        self._last = now
