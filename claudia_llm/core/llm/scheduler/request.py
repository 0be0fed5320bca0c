"""LLM requests as the scheduler queues them, and the wire form of requests and results.

A request travels as a flat ``{str: str}`` mapping (a Redis stream entry); a result or an
error travels as JSON text. ``coalescing_key`` decides which concurrent requests are
"identical" and share one LLM call: same normalised text, model, prompt version and
options (issue 5 item 3). Priority is not part of the key: a request joins an identical
one already waiting, and the shared job runs at the higher of their priorities.
"""
import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

from claudia_llm.core import errors
from claudia_llm.core.record import Answer

PRIORITIES = ('high', 'normal', 'low')
"""Priority names, most urgent first."""


def priority_rank(priority: str) -> int:
    """Return 0 for 'high', 1 for 'normal', 2 for 'low' (lower runs first).

    Raises:
        ValueError: ``priority`` is not one of ``PRIORITIES``.
    """
    try:
        return PRIORITIES.index(priority)
    except ValueError:
        raise ValueError('priority must be one of %s, got %r' % (PRIORITIES, priority)) from None


@dataclass
class LLMRequest:
    """One utterance waiting for the LLM.

    Attributes:
        request_id: unique id of the utterance (also the response record's id).
        text: the text sent to the LLM: the utterance as received, not normalised (the
            model reads the user's own wording; the coalescing key normalises it).
        utterance: the text as heard (for the response record of an orphan).
        priority: 'high', 'normal' or 'low'.
        created: wall-clock time the utterance was received, s since the epoch
            (``time.time()``); comparable across processes and machines.
        deadline_s: the request is answered ``expired`` once ``created + deadline_s`` passes.
        origin: name of the submitting scheduler (its results stream); set by the scheduler.
        key: coalescing key; computed by the scheduler when empty.
        ticket: unique id of one submission, set by the Redis scheduler; results,
            idempotence and orphan bookkeeping use it, so a request id that a client
            reuses can never be mistaken for an earlier request.
        events: the submitter wants the answer's stream events (partial entries on its
            results stream, ``partials``) before the result.
    """

    request_id: str
    text: str
    utterance: str = ''
    priority: str = 'normal'
    created: float = field(default_factory=time.time)
    deadline_s: float = 10.0
    origin: str = ''
    key: str = ''
    ticket: str = ''
    events: bool = False

    def __post_init__(self):
        priority_rank(self.priority)
        if not self.request_id:
            raise ValueError('request_id must not be empty')
        if self.deadline_s <= 0:
            raise ValueError('deadline_s must be > 0, got %r' % self.deadline_s)

    @property
    def expires_at(self) -> float:
        """Wall-clock time (s since the epoch) after which the request is expired."""
        return self.created + self.deadline_s

    def remaining_s(self, now: Optional[float] = None) -> float:
        """Seconds left before the deadline (negative when past), by ``time.time()``."""
        return self.expires_at - (time.time() if now is None else now)

    def expired(self, now: Optional[float] = None) -> bool:
        """True when the deadline has passed."""
        return self.remaining_s(now) <= 0

    def to_fields(self) -> Dict[str, str]:
        """Flat ``{str: str}`` form for a Redis stream entry or hash field."""
        return {'request_id': self.request_id, 'text': self.text, 'utterance': self.utterance,
                'priority': self.priority, 'created': repr(float(self.created)),
                'deadline_s': repr(float(self.deadline_s)), 'origin': self.origin,
                'key': self.key, 'ticket': self.ticket, 'events': '1' if self.events else '0'}

    def to_json(self) -> str:
        """The fields as one JSON object (non-ASCII kept)."""
        return json.dumps(self.to_fields(), ensure_ascii=False)

    @classmethod
    def from_fields(cls, fields: Mapping[Any, Any]) -> 'LLMRequest':
        """Inverse of ``to_fields``; keys and values may be bytes (raw redis-py replies).

        Raises:
            KeyError, ValueError: ``fields`` is not a request.
        """
        data = {as_text(k): as_text(v) for k, v in fields.items()}
        return cls(request_id=data['request_id'], text=data['text'],
                   utterance=data.get('utterance', ''), priority=data.get('priority', 'normal'),
                   created=float(data['created']), deadline_s=float(data['deadline_s']),
                   origin=data.get('origin', ''), key=data.get('key', ''),
                   ticket=data.get('ticket', ''), events=data.get('events') == '1')

    @classmethod
    def from_json(cls, text: Any) -> 'LLMRequest':
        """Inverse of ``to_json`` (str or bytes).

        Raises:
            KeyError, ValueError: ``text`` is not a request.
        """
        return cls.from_fields(json.loads(as_text(text)))


def coalescing_key(text: str, model: str, prompt_version: str,
                   options: Optional[Mapping[str, Any]] = None) -> str:
    """SHA-256 hex digest of the normalised text, model, prompt version and options.

    Options are serialised with sorted keys, so their order does not matter.
    """
    payload = json.dumps([text, model, prompt_version, dict(options or {})],
                         ensure_ascii=False, sort_keys=True, separators=(',', ':'))
    return hashlib.sha256(payload.encode('utf-8')).hexdigest()


def llm_identity(llm: Any) -> Tuple[str, str, Dict[str, Any]]:
    """Return ``(model, prompt version, options)`` of an ``OllamaChat``-like object.

    Missing attributes count as empty, so a test double needs none of them.
    """
    profile = getattr(llm, 'profile', None)
    return (str(getattr(llm, 'model', '') or ''), str(getattr(profile, 'version', '') or ''),
            dict(getattr(llm, 'options', None) or {}))


def key_for(request: LLMRequest, llm: Any) -> str:
    """The request's coalescing key for ``llm`` (``request.key`` when already set)."""
    if request.key:
        return request.key
    return coalescing_key(request.text, *llm_identity(llm))


def result_to_dict(result: Any) -> Dict[str, Any]:
    """``LLMResult`` (``core.llm``) -> JSON-able dict; ``answer`` via ``Answer.to_dict``."""
    data = {}
    for item in dataclasses.fields(result):
        value = getattr(result, item.name)
        data[item.name] = value.to_dict() if isinstance(value, Answer) else value
    return data


def result_from_dict(data: Mapping[str, Any]) -> Any:
    """Inverse of ``result_to_dict``; fields ``LLMResult`` does not know are ignored.

    Raises:
        KeyError, TypeError: ``data`` lacks the answer or a required field.
    """
    from claudia_llm.core.llm.ollama import (
        LLMResult,  # deferred: the scheduler does not need the Ollama client
    )
    names = {item.name for item in dataclasses.fields(LLMResult)}
    values = {k: v for k, v in data.items() if k in names}
    values['answer'] = Answer.from_dict(data['answer'])
    return LLMResult(**values)


def error_to_dict(error: BaseException) -> Dict[str, Any]:
    """Error -> ``{"code", "message"}`` (plus ``status_code`` for HTTP errors)."""
    data = {'code': getattr(error, 'code', errors.LLMError.code), 'message': str(error)}
    if isinstance(error, errors.LLMHTTPError):
        data['status_code'] = error.status_code
    return data


def error_from_dict(data: Mapping[str, Any]) -> errors.LLMError:
    """Inverse of ``error_to_dict``: the ``LLMError`` subclass with that code.

    An unknown code gives a plain ``LLMError`` whose ``code`` is the one received.
    """
    code, message = str(data.get('code', errors.LLMError.code)), str(data.get('message', ''))
    cls = _error_classes().get(code)
    if cls is errors.LLMHTTPError:
        return errors.LLMHTTPError(message, status_code=int(data.get('status_code', -1)))
    if cls is not None:
        return cls(message)
    error = errors.LLMError(message)
    error.code = code
    return error


def outcome_to_json(result: Any = None, error: Optional[BaseException] = None) -> str:
    """One result or one error as JSON text: ``{"result": {...}}`` or ``{"error": {...}}``."""
    if error is not None:
        return json.dumps({'error': error_to_dict(error)}, ensure_ascii=False)
    return json.dumps({'result': result_to_dict(result)}, ensure_ascii=False)


def outcome_from_json(text: Any) -> Tuple[Any, Optional[errors.LLMError]]:
    """Inverse of ``outcome_to_json``: ``(LLMResult, None)`` or ``(None, LLMError)``.

    Raises:
        ValueError, KeyError: ``text`` is not an outcome.
    """
    data = json.loads(as_text(text))
    if 'error' in data:
        return None, error_from_dict(data['error'])
    return result_from_dict(data['result']), None


def _error_classes() -> Dict[str, type]:
    found, todo = {}, [errors.LLMError]
    while todo:
        cls = todo.pop()
        found.setdefault(cls.code, cls)
        todo.extend(cls.__subclasses__())
    return found


def as_text(value: Any) -> str:
    """A Redis reply value as ``str`` (redis-py returns ``bytes`` without decode_responses)."""
    return value.decode('utf-8') if isinstance(value, bytes) else str(value)
