"""The prompt profile: Claudia's system prompt, the JSON schema the LLM must fill, parsing.

The schema is sent as Ollama's ``format`` (structured outputs: Ollama turns it into a
grammar, so a well-behaved model can only emit JSON of this shape; we validate again,
because a truncated answer or another server may not). Its shape::

    {"reply": str, "actions": [{"name": <action>, "parameter"?: {"x"?: num, ...}}],
     "kind": "command" | "chat" | "volatile"}

Action names and their ja/zh/en names come from the action registry
(``config/go2_actions.yaml``); the LLM never sees or writes sport API ids.
"""
import hashlib
import json
from typing import Any, Dict, List

import jsonschema

from claudia_llm.core.errors import LLMMalformedOutput
from claudia_llm.core.record import Action, Answer
from claudia_llm.core.safety.actions import ActionRegistry, ActionSpec

KINDS = ('command', 'chat', 'volatile')
PROFILE_FORMAT = 'p1'  # bump when the meaning of the schema or of parse() changes

# Sign conventions of SportClient.Move(vx, vy, vyaw) and Euler(roll, pitch, yaw)
# (unitree_sdk2 go2/sport/sport_client.hpp; body frame: x forward, y left, z up).
PARAMETER_HINTS = {
    ('Move', 'x'): '+ forward, - backward',
    ('Move', 'y'): '+ left, - right',
    ('Move', 'z'): '+ turn left, - turn right',
    ('Euler', 'x'): 'roll', ('Euler', 'y'): 'pitch', ('Euler', 'z'): 'yaw',
}

_PERSONA = """\
You are Claudia, a friendly Unitree Go2 robot dog. People talk to you in Japanese, Chinese \
or English.

Answer with one JSON object: {"reply": ..., "actions": [...], "kind": ...}.
- reply: what you say, in the user's language, short (one sentence, at most about 40 \
characters), warm and simple.
- actions: the robot actions the user asks you to do, in order; [] when none. Use only the \
action names listed below, exactly as written. Never invent names or numbers for actions. \
Do not add StandUp before other actions: the robot does that by itself.
- kind: "command" when actions are asked for; "chat" for conversation whose answer does not \
change; "volatile" when the answer depends on the time, date, weather, battery or \
anything that changes.

When to act:
- Act only when the user asks for something physical: a posture, a trick, a movement, \
stopping. A greeting (hello, good morning, good night, goodbye) is answered with Hello.
- A question is never a command: "who are you", "what can you do", "are you well", \
"what time is it" get a reply and no actions.
- Move needs a direction (forward, back, left, right, turn). Without one, ask where to \
go and do nothing.
- If you are unsure what is meant, ask back briefly and do nothing.

Examples:
ちょっと座ってくれる? -> {"reply": "はい、座ります。", "actions": [{"name": "Sit"}], \
"kind": "command"}
Please stand up and then wave. -> {"reply": "Sure!", "actions": [{"name": "StandUp"}, \
{"name": "Hello"}], "kind": "command"}
向左转一点 -> {"reply": "好的,向左转。", "actions": [{"name": "Move", "parameter": \
{"x": 0, "y": 0, "z": 0.5}}], "kind": "command"}
你会做什么? -> {"reply": "我会坐下、打招呼、跳舞哦。", "actions": [], "kind": "chat"}
今の気温は? -> {"reply": "ごめんなさい、気温はわかりません。", "actions": [], \
"kind": "volatile"}
"""


class PromptProfile:
    """System prompt, output schema and parser for one action registry.

    Args:
        registry: the Go2 action table; the LLM may name ``registry.llm_names()`` only.
        max_actions: most actions per answer (schema ``maxItems``), >= 1.

    Raises:
        ValueError: ``max_actions`` < 1 or the registry offers the LLM no action.
    """

    def __init__(self, registry: ActionRegistry, max_actions: int):
        if max_actions < 1:
            raise ValueError('max_actions must be >= 1, got %r' % max_actions)
        self.registry = registry
        self.max_actions = max_actions
        self.names = registry.llm_names()
        if not self.names:
            raise ValueError('the action registry offers the LLM no action')
        self.schema = self._schema()
        jsonschema.Draft7Validator.check_schema(self.schema)
        self._validator = jsonschema.Draft7Validator(self.schema)
        self.system_prompt = _PERSONA + '\n' + self._action_list()
        digest = hashlib.sha256((self.system_prompt + '\n' + json.dumps(
            self.schema, sort_keys=True, ensure_ascii=False)).encode('utf-8')).hexdigest()
        self.version = '%s-%s' % (PROFILE_FORMAT, digest[:8])

    def messages(self, text: str) -> List[Dict[str, str]]:
        """Chat messages for ``text``: ``[{"role": "system", ...}, {"role": "user", ...}]``."""
        return [{'role': 'system', 'content': self.system_prompt},
                {'role': 'user', 'content': text}]

    def parse(self, content: str) -> Answer:
        """Turn the LLM's message content into an ``Answer`` (actions with sport API ids).

        Parameters are kept as given (numbers); clamping is the safety policy's job.

        Raises:
            LLMMalformedOutput: not JSON, not of the schema, or an action name the
                registry does not offer to the LLM.
        """
        try:
            data = json.loads(content)
        except (TypeError, ValueError) as exc:
            raise LLMMalformedOutput('LLM output is not JSON: %s: %r'
                                     % (exc, _clip(content))) from exc
        self._validate(data, content)
        intent = []
        for item in data['actions']:
            spec = self.registry.get(item['name'])
            intent.append(Action(spec.name, spec.api_id, dict(item.get('parameter') or {})))
        return Answer(reply=data['reply'].strip(), intent=intent, kind=data['kind'])

    def _validate(self, data: Any, content: str) -> None:
        items = data.get('actions') if isinstance(data, dict) else None
        for item in items if isinstance(items, list) else []:
            name = item.get('name') if isinstance(item, dict) else None
            if isinstance(name, str) and name not in self.names:
                known = self.registry.get(name) is not None
                why = ('not offered to the LLM (from_llm: false or disabled in the action table)'
                       if known else 'not in the action table')
                raise LLMMalformedOutput('LLM named action %r, %s' % (name, why))
        error = jsonschema.exceptions.best_match(self._validator.iter_errors(data))
        if error is not None:
            where = '/'.join(str(p) for p in error.absolute_path) or '(root)'
            raise LLMMalformedOutput('LLM output does not fit the schema at %s: %s: %r'
                                     % (where, error.message, _clip(content)))
        if not data['reply'].strip():
            raise LLMMalformedOutput('LLM reply is blank: %r' % _clip(content))

    def _schema(self) -> Dict[str, Any]:
        params = []
        for name in self.names:
            for spec in self.registry.get(name).parameters:
                if spec.name not in params:
                    params.append(spec.name)
        action = {'type': 'object',
                  'properties': {'name': {'type': 'string', 'enum': list(self.names)},
                                 'parameter': {'type': 'object',
                                               'properties': {p: {'type': 'number'}
                                                              for p in params},
                                               'additionalProperties': False}},
                  'required': ['name'], 'additionalProperties': False}
        return {'type': 'object',
                'properties': {'reply': {'type': 'string', 'minLength': 1},
                               'actions': {'type': 'array', 'items': action,
                                           'maxItems': self.max_actions},
                               'kind': {'type': 'string', 'enum': list(KINDS)}},
                'required': ['reply', 'actions', 'kind'], 'additionalProperties': False}

    def _action_list(self) -> str:
        lines = ['Actions (name: what people call it in ja; zh; en):']
        for name in self.names:
            spec = self.registry.get(name)
            lines.append('- %s: %s%s' % (name, _called(spec), _parameters(spec)))
        lines.append('At most %d actions per answer.' % self.max_actions)
        return '\n'.join(lines) + '\n'


def _called(spec: ActionSpec) -> str:
    return '; '.join('/'.join(spec.names.get(lang, ())) or '-' for lang in ('ja', 'zh', 'en'))


def _parameters(spec: ActionSpec) -> str:
    if not spec.parameters:
        return ''
    parts = []
    for p in spec.parameters:
        hint = PARAMETER_HINTS.get((spec.name, p.name))
        parts.append('%s %s..%s %s%s' % (p.name, _num(p.minimum), _num(p.maximum), p.unit,
                                         ' (%s)' % hint if hint else ''))
    return ' | parameter: ' + ', '.join(parts)


def _num(value: float) -> str:
    return '%g' % value


def _clip(text: Any, limit: int = 200) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit] + '...'
