"""The executor: runs the policy's action lists on a Go2 one action at a time.

Why (public reports of driving the Go2 sport API):

- ``Move`` (api id 1008) is a velocity command the robot follows only while it keeps
  receiving it: one Move gives a step or two whatever was asked (unitree_webrtc_connect
  issue #30 "I need to keep sending the commands"; go2_ros2_sdk issue #55). ``Euler`` body
  poses end within milliseconds unless resent (unitree_sdk2_python issue #112). Held
  actions are therefore resent at ``resend_hz`` for their ``duration_s``, then StopMove.
- Requests sent back to back while the robot is in a transition are lost: each action
  waits for the previous one to finish, judged from SportModeState (``mode`` reaching the
  table's ``done_modes``, or ``progress`` going 1 then 0) when it is live, else from the
  table's ``expected_s``; a state wait is bounded by ``expected_s + timeout_margin_s``.
  An action sent while the mode already is one of its ``done_modes`` (StandUp while
  standing) is paced by ``expected_s``: a stale mode cannot show its end. A trick whose
  ``progress`` never rose within ``expected_s`` is a 'timeout' (the robot ignored it),
  never 'done'.

Sequences: a new one replaces the running one (``mode='replace'``: pending actions are
dropped, a held motion is stopped; an action the robot is already performing is waited
for, since the robot finishes it anyway) or waits behind it (``mode='queue'``). A StopMove
anywhere in a list pre-empts everything at once: the worker is cancelled, everything
pending is dropped, StopMove is sent before ``submit`` returns, and a generation counter
makes sure nothing of the pre-empted sequences is sent after it.

Events (``emit``, one dict per change): ``request_id``, ``index`` (position in its list),
``action``, ``api_id``, ``state`` (started | done | preempted | failed | timeout),
``stamp`` (wall clock, s), ``started`` (wall clock of its start, s), ``elapsed_s`` and,
where they apply, ``by`` (state | duration | resend), ``code`` (failing response status),
``sends`` (requests sent for a held action), ``reason``.

Loop-bound: construct it and call every method on the event loop that runs it.
"""
import asyncio
import logging
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional

from claudia_llm.core.errors import ConfigError
from claudia_llm.core.record import Action
from claudia_llm.core.safety.actions import ActionRegistry, ActionSpec

from .completion import judge
from .feedback import SportFeedback

log = logging.getLogger(__name__)

MODES = ('replace', 'queue')
STOP = 'StopMove'
MAX_QUEUED = 8
Send = Callable[[Action], Optional[int]]  # -> header.identity.id, None when not sent
Emit = Callable[[Dict[str, Any]], None]


class _Sequence:
    """One action list of one request, and how far it got."""

    def __init__(self, request_id: str, actions: List[Action], first_index: int = 0):
        self.request_id = request_id
        self.actions = actions
        self.first_index = first_index
        self.index = 0
        self.cancelled = False
        self.wake = asyncio.Event()
        self.started: Optional[float] = None  # wall clock of the running action's start


class Executor:
    """Runs action lists on the robot: paced, held, pre-emptible, reported.

    Args:
        registry: the action table (execution fields: ``held``, ``expected_s``,
            ``done_modes``, ``progress``, ``min_s``).
        send: publishes one ``unitree_api/Request`` for an action; returns its
            ``header.identity.id`` (None when nothing was sent).
        emit: receives each event dict (see the module docstring).
        mode: 'replace' or 'queue' (parameter ``execution.mode``).
        resend_hz: resend rate of held actions, Hz (``execution.resend_hz``).
        timeout_margin_s: added to ``expected_s`` to bound a wait on SportModeState, s.
        clock: monotonic time source, s. wall: wall-clock source for event stamps, s.

    Raises:
        ConfigError: unknown mode, a rate or margin out of range, or no StopMove in the table.
    """

    def __init__(self, registry: ActionRegistry, send: Send, emit: Emit, mode: str = 'replace',
                 resend_hz: float = 10.0, timeout_margin_s: float = 3.0,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time):
        if mode not in MODES:
            raise ConfigError('execution.mode must be one of %s, got %r' % (MODES, mode))
        if not 1.0 <= resend_hz <= 100.0:
            raise ConfigError('execution.resend_hz must be within 1-100 Hz, got %r' % resend_hz)
        if not 0.0 <= timeout_margin_s <= 60.0:
            raise ConfigError('execution.timeout_margin_s must be within 0-60 s, got %r'
                              % timeout_margin_s)
        stop = registry.get(STOP)
        if stop is None:
            raise ConfigError('the action table needs %s for the executor' % STOP)
        self.registry, self.mode, self.period_s = registry, mode, 1.0 / resend_hz
        self.timeout_margin_s = timeout_margin_s
        self.feedback = SportFeedback(clock)
        self._send_fn, self._emit_fn = send, emit
        self._clock, self._wall = clock, wall
        self._stop = Action(stop.name, stop.api_id, {})
        self._gen = 0
        self._queue: Deque[_Sequence] = deque()
        self._current: Optional[_Sequence] = None
        self._worker: Optional[asyncio.Task] = None
        self._live: List[Optional[int]] = []  # identity ids of the running action's requests

    # --- entry points ----------------------------------------------------------------

    def submit(self, request_id: str, actions: List[Action]) -> Dict[str, Any]:
        """Run ``actions`` (the policy's output) for ``request_id``; returns at once.

        Returns:
            ``{"state": "started" | "queued" | "stopped" | "refused", "preempted":
            [request ids whose actions were dropped or stopped]}``, for the record.
        """
        actions = list(actions)
        if not actions:
            return {'state': 'refused', 'preempted': [], 'reason': 'no actions'}
        stops = [i for i, a in enumerate(actions) if a.name == STOP]
        if stops:
            preempted = self._preempt('%s from request %s' % (STOP, request_id))
            self._send_stop(request_id, stops[0])
            rest = actions[stops[0] + 1:]
            if rest:
                self._enqueue(_Sequence(request_id, rest, stops[0] + 1))
            return {'state': 'stopped', 'preempted': preempted}
        preempted: List[str] = []
        if self.mode == 'replace':
            preempted = self._replace('replaced by request %s' % request_id)
        elif len(self._queue) >= MAX_QUEUED:
            for i, action in enumerate(actions):
                self._event(request_id, i, action, 'preempted', None,
                            reason='%d sequences already queued' % MAX_QUEUED)
            return {'state': 'refused', 'preempted': [], 'reason': 'queue full'}
        busy = self._current is not None or bool(self._queue)
        self._enqueue(_Sequence(request_id, actions))
        return {'state': 'queued' if busy else 'started', 'preempted': preempted}

    def sport_state(self, mode: int, progress: float) -> None:
        """Feed one SportModeState (``mode``, ``progress``)."""
        self.feedback.sport_state(mode, progress)

    def response(self, identity_id: int, api_id: int, code: int) -> None:
        """Feed one sport API answer: ``header.identity`` id and api id, status code.

        A failure of an action no longer running is reported here as a 'failed' event;
        the running action reports its own.
        """
        if self.feedback.response(identity_id, code) and int(identity_id) not in self._live:
            spec = self.registry.by_api_id(int(api_id))
            self._emit_fn({'request_id': None, 'index': None,
                           'action': spec.name if spec else str(api_id), 'api_id': int(api_id),
                           'state': 'failed', 'stamp': self._wall(), 'code': int(code),
                           'reason': 'the robot answered request %d with code %d'
                           % (identity_id, code)})

    @property
    def busy(self) -> bool:
        """True while a sequence runs or waits."""
        return self._current is not None or bool(self._queue)

    async def aclose(self) -> None:
        """Cancel everything; a held motion in progress is stopped (StopMove sent)."""
        held = self._current is not None and self._running_held()
        self._preempt('shutting down')
        if held:
            self._send(self._stop, self._gen)

    # --- sequences -------------------------------------------------------------------

    def _enqueue(self, seq: _Sequence) -> None:
        self._queue.append(seq)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.ensure_future(self._work(self._gen))

    def _replace(self, reason: str) -> List[str]:
        """Drop queued sequences and cancel the current one (it stops at its next check)."""
        dropped = []
        for seq in self._queue:
            self._drop_rest(seq, 0, reason)
            dropped.append(seq.request_id)
        self._queue.clear()
        if self._current is not None and not self._current.cancelled:
            self._current.cancelled = True
            self._current.wake.set()
            dropped.append(self._current.request_id)
        return dropped

    def _preempt(self, reason: str) -> List[str]:
        """Cancel the worker now and drop everything; nothing of it is sent after this."""
        self._gen += 1
        if self._worker is not None:
            self._worker.cancel()
            self._worker = None
        dropped = []
        if self._current is not None:
            self._drop_rest(self._current, self._current.index, reason)
            dropped.append(self._current.request_id)
            self._current = None
        for seq in self._queue:
            self._drop_rest(seq, 0, reason)
            dropped.append(seq.request_id)
        self._queue.clear()
        return dropped

    def _drop_rest(self, seq: _Sequence, start: int, reason: str) -> None:
        for i in range(start, len(seq.actions)):
            started = seq.started if i == seq.index else None
            self._event(seq.request_id, seq.first_index + i, seq.actions[i], 'preempted',
                        started, reason=reason)
        seq.index = len(seq.actions)

    def _send_stop(self, request_id: str, index: int) -> None:
        started = self._wall()
        ident = self._send(self._stop, self._gen)
        self._event(request_id, index, self._stop, 'started', started)
        self._live = [ident]
        self._event(request_id, index, self._stop, 'done', started, by='sent')

    async def _work(self, gen: int) -> None:
        while self._queue and gen == self._gen:
            seq = self._current = self._queue.popleft()
            try:
                await self._work_on(seq, gen)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a bug must not leave the executor stuck busy
                log.exception('executing request %s failed', seq.request_id)
                self._drop_rest(seq, seq.index, 'internal error')
            if gen == self._gen:
                self._current = None

    async def _work_on(self, seq: _Sequence, gen: int) -> None:
        while seq.index < len(seq.actions) and gen == self._gen:
            if seq.cancelled:
                self._drop_rest(seq, seq.index, 'replaced by a newer command')
                return
            state = await self._run(seq, seq.actions[seq.index], gen)
            seq.index += 1
            seq.started = None
            if state in ('failed', 'preempted'):
                self._drop_rest(seq, seq.index, 'an earlier action was %s' % state)

    # --- one action ------------------------------------------------------------------

    async def _run(self, seq: _Sequence, action: Action, gen: int) -> str:
        spec = self.registry.get(action.name)
        if spec is None:  # the policy never lets one through; defend anyway
            self._event(seq.request_id, seq.first_index + seq.index, action, 'failed', None,
                        reason='%r is not in the action table' % action.name)
            return 'failed'
        if spec.held:
            return await self._run_held(seq, action, spec, gen)
        return await self._run_once(seq, action, spec, gen)

    async def _run_held(self, seq: _Sequence, action: Action, spec: ActionSpec,
                        gen: int) -> str:
        """Resend ``action`` every period for its ``duration_s``, then StopMove."""
        bound = spec.parameter('duration_s')
        duration = float(action.parameter.get('duration_s', bound.default if bound else 1.0))
        index = seq.first_index + seq.index
        start, seq.started = self._clock(), self._wall()
        idents = self._live = [self._send(action, gen)]
        self._event(seq.request_id, index, action, 'started', seq.started, duration_s=duration)
        deadline, next_send = start + duration, start + self.period_s
        state, extra = 'done', {'by': 'resend'}
        while True:
            code = self._failed(idents)
            if seq.cancelled:
                state, extra = 'preempted', {'reason': 'replaced by a newer command'}
                break
            if code is not None:
                state, extra = 'failed', {'code': code}
                break
            now = self._clock()
            if now >= deadline:
                break
            if now >= next_send:
                idents.append(self._send(action, gen))
                next_send = max(next_send + self.period_s, now + self.period_s / 2)
                continue
            await self._sleep(min(next_send, deadline) - now, seq.wake)
        self._send(self._stop, gen)
        self._event(seq.request_id, index, action, state, seq.started,
                    sends=len([i for i in idents if i is not None]), **extra)
        return state

    async def _run_once(self, seq: _Sequence, action: Action, spec: ActionSpec,
                        gen: int) -> str:
        """Send ``action`` once; wait until SportModeState or ``expected_s`` says it ended."""
        index = seq.first_index + seq.index
        sent, seq.started = self._clock(), self._wall()
        ident = self._send(action, gen)
        self._live = [ident]
        self._event(seq.request_id, index, action, 'started', seq.started)
        by_state = bool(spec.done_modes or spec.progress) and self.feedback.live_since(sent)
        # Already in a done mode when sent (StandUp while standing): the mode cannot show the
        # end, unless it leaves and comes back; the table's expected_s paces it then.
        already = self.feedback.mode in spec.done_modes
        limit = sent + spec.expected_s + (self.timeout_margin_s if by_state else 0.0)
        running = left = False
        while True:
            code = self.feedback.failure(ident)
            if code is not None:
                self._event(seq.request_id, index, action, 'failed', seq.started, code=code)
                return 'failed'
            now = self._clock()
            result = None
            if by_state:
                mode, progress = self.feedback.after(sent)
                running = running or (spec.progress and progress >= 0.5)
                left = left or (mode is not None and mode not in spec.done_modes)
                result = judge(spec, mode, progress, running, already and not left,
                               now - sent)
            elif now >= sent + spec.expected_s:
                result = ('done', {'by': 'duration'})
            if result is None and now >= limit:
                result = ('timeout', {'by': 'state'})
            if result is not None:
                self._event(seq.request_id, index, action, result[0], seq.started, **result[1])
                return result[0]
            wake_at = limit if by_state else sent + spec.expected_s
            for at in (sent + spec.min_s, sent + spec.expected_s):
                if at > now:
                    wake_at = min(wake_at, at)
            await self._sleep(wake_at - now, self.feedback.changed())

    # --- helpers ---------------------------------------------------------------------

    def _send(self, action: Action, gen: int) -> Optional[int]:
        """Send unless ``gen`` was pre-empted: the guard that keeps old sequences silent."""
        if gen != self._gen:
            return None
        try:
            return self._send_fn(action)
        except Exception as exc:  # noqa: BLE001 - a dead publisher must not kill the loop
            log.warning('sending %s failed: %s', action.name, exc)
            return None

    def _failed(self, idents: List[Optional[int]]) -> Optional[int]:
        for ident in idents:
            code = self.feedback.failure(ident)
            if code is not None:
                return code
        return None

    async def _sleep(self, seconds: float, wake: asyncio.Event) -> None:
        """Sleep ``seconds`` or until ``wake`` is set, whichever is first."""
        waiter = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait({waiter}, timeout=max(seconds, 0.0))
        finally:
            waiter.cancel()

    def _running_held(self) -> bool:
        seq = self._current
        if seq is None or seq.index >= len(seq.actions):
            return False
        spec = self.registry.get(seq.actions[seq.index].name)
        return spec is not None and spec.held

    def _event(self, request_id: str, index: int, action: Action, state: str,
               started: Optional[float], **extra: Any) -> None:
        now = self._wall()
        event = {'request_id': request_id, 'index': index, 'action': action.name,
                 'api_id': action.api_id, 'state': state, 'stamp': now,
                 'started': started, 'elapsed_s': None if started is None
                 else round(now - started, 3)}
        event.update(extra)
        try:
            self._emit_fn(event)
        except Exception as exc:  # noqa: BLE001 - reporting must not stop the robot's stop
            log.warning('execution event not delivered: %s', exc)
