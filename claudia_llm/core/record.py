"""Response records: the one JSON object published per accepted utterance.

Shape (DESIGN.md, ``/claudia/response``)::

    {"request_id", "stamp", "utterance", "normalized", "reply", "intent": [names],
     "actions": [{"name", "api_id", "parameter"}], "source", "model",
     "latency_ms": {"total", <stage>...}, "error": null | {"code", "message"},
     "policy": [{"action", "rule", "reason"}], "cache": null | {"key", "matched", "score"},
     "priority", "queue_depth", "age_ms", "execution": null | {"state", "preempted", ...}}

``latency_ms`` holds ``total`` and the stages, ms since the utterance arrived for
``first_action`` (when ``/claudia/action`` went out, before the record: for a streamed
LLM answer when its action list closed) and ``first_reply`` (the first
``/claudia/reply_partial`` piece), ms per stage for the rest.

``policy``, ``cache``, ``priority``, ``queue_depth``, ``age_ms`` and ``execution`` are additions
to the contract: what the safety policy changed and why, which cache entry answered, the
request's priority, how many LLM requests were waiting when the record was published, how
old the utterance was then (ms since it was received; large for an answer recovered after
a restart, whose actions the ``stale`` rule withholds), and what the
executor did with the actions when the record was published (``state``: started | queued |
stopped | refused | off; ``preempted``: request ids it dropped or stopped). How each action
then ended is published on ``/claudia/execution``.
"""
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

SOURCES = ('emergency', 'exact', 'semantic', 'llm', 'fallback')


@dataclass
class Action:
    """One Go2 sport command: SportClient method name, sport API id, parameters."""

    name: str
    api_id: int
    parameter: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        """Return ``{"name", "api_id", "parameter"}``."""
        return {'name': self.name, 'api_id': self.api_id, 'parameter': dict(self.parameter)}


@dataclass
class PolicyChange:
    """One change the safety policy made: ``rule`` is a stable id, ``reason`` is prose."""

    action: str
    rule: str
    reason: str


@dataclass
class ResponseRecord:
    """Everything known about how one utterance was answered."""

    request_id: str
    utterance: str
    stamp: float = field(default_factory=time.time)
    normalized: str = ''
    reply: str = ''
    intent: List[str] = field(default_factory=list)
    actions: List[Action] = field(default_factory=list)
    source: str = 'fallback'
    model: str = ''
    latency_ms: Dict[str, float] = field(default_factory=dict)
    error: Optional[Dict[str, str]] = None
    policy: List[PolicyChange] = field(default_factory=list)
    cache: Optional[Dict[str, Any]] = None
    priority: str = 'normal'
    queue_depth: int = 0
    age_ms: float = 0.0  # ms from the utterance's stamp to the record's publication
    # Redis as this node saw it when answering: {'breaker': 'closed'|'open'|'half_open',
    # 'budget_misses': calls cut at redis.budget_ms since start}; None without a store.
    redis: Optional[Dict[str, Any]] = None
    execution: Optional[Dict[str, Any]] = None
    # Not part of the JSON: True once /claudia/action was published for this record
    # (early, by the pipeline's publish_actions hook), so the record's publisher skips it.
    actions_published: bool = field(default=False, repr=False, compare=False)

    def set_error(self, code: str, message: str) -> None:
        """Record an error; ``code`` is one of the codes in ``core.errors``."""
        self.error = {'code': code, 'message': message}

    def to_dict(self) -> Dict[str, Any]:
        """Return the record as plain JSON-able data."""
        data = asdict(self)
        data.pop('actions_published', None)
        data['actions'] = [a.to_dict() for a in self.actions]
        data['latency_ms'] = {k: round(v, 3) for k, v in self.latency_ms.items()}
        return data

    def to_json(self) -> str:
        """Serialise for ``/claudia/response`` (UTF-8, non-ASCII kept readable)."""
        return dumps(self.to_dict())

    def action_message(self) -> Optional[str]:
        """Return the ``/claudia/action`` payload, or None when there is no action."""
        if not self.actions:
            return None
        return dumps({'request_id': self.request_id, 'stamp': self.stamp,
                      'source': self.source, 'actions': [a.to_dict() for a in self.actions]})


@dataclass
class ReplyPiece:
    """One ``/claudia/reply_partial`` message: a sentence-sized piece of a reply.

    ``seq`` counts the pieces of one request from 0; the last piece of a reply has
    ``final`` True (its ``text`` may be empty when the reply ended at a sentence end).
    """

    request_id: str
    seq: int
    text: str
    final: bool = False

    def to_json(self) -> str:
        """``{"request_id", "seq", "text", "final"}`` as JSON text (non-ASCII kept)."""
        return dumps({'request_id': self.request_id, 'seq': self.seq, 'text': self.text,
                      'final': self.final})


def dumps(data: Any) -> str:
    r"""JSON text with non-ASCII kept as is, so ``ros2 topic echo`` shows Japanese.

    Text UTF-8 cannot encode (a lone surrogate) is written as ``\u`` escapes instead,
    so publishing the record can never raise.
    """
    text = json.dumps(data, ensure_ascii=False, separators=(', ', ': '))
    try:
        text.encode('utf-8')
    except UnicodeEncodeError:
        return json.dumps(data, ensure_ascii=True, separators=(', ', ': '))
    return text


@dataclass
class Answer:
    """What a tier understood: the reply text and the actions asked for (before policy).

    ``kind`` is 'command' (actions asked for), 'chat' (a stable conversational answer) or
    'volatile' (depends on time, weather, battery...; never cached).
    """

    reply: str
    intent: List[Action] = field(default_factory=list)
    kind: str = 'chat'

    def to_dict(self) -> Dict[str, Any]:
        """Return JSON-able data, the form stored in the caches."""
        return {'reply': self.reply, 'intent': [a.to_dict() for a in self.intent],
                'kind': self.kind}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> 'Answer':
        """Inverse of ``to_dict``.

        Raises:
            KeyError, TypeError: ``data`` is not of that shape.
        """
        return cls(reply=str(data['reply']), kind=str(data.get('kind', 'chat')),
                   intent=[Action(str(a['name']), int(a['api_id']), dict(a.get('parameter') or {}))
                           for a in data.get('intent', [])])
