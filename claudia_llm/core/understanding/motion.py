"""Motion phrasings: 「三歩前へ」, "turn left 90 degrees", 往前走两米 -> one timed ``Move``.

A distance, an angle or a time becomes velocity x duration within the action table's
bounds (``Move``'s x, y, z and duration_s), so the executor resends it for that time and
then sends StopMove (issue 12 item 2). The speeds a phrasing is walked at come from the
``phrasing`` block of ``Move`` in ``go2_actions.yaml``.

Understood only when it is unambiguous, else ``parse`` returns None and the LLM answers:
- exactly one direction (forward, back, left, right; ``guards.extract_guards``) and at most
  one quantity in steps, m, cm, degrees, turns or seconds;
- a motion word: walk verbs (歩く, 進む, 下がる, 走/前进/后退, walk/go/move/step) or turn verbs
  (回る, 曲がる, 向く, 转/拐, turn/rotate/spin), or a unit that implies one (歩, 度);
- every other word is a particle, a politeness form, a filler, a number or a unit (a closed
  vocabulary per language), so "go back to sleep" or 「前に歩いて座って」 is not swallowed;
- not negated, not a stop, not a question.
Too far for one Move (the distance needs more than the fastest speed for the longest
duration) is None as well: the LLM can ask back instead of the robot walking a part.
"""
import math
import re
from dataclasses import dataclass
from typing import Dict, FrozenSet, Optional, Sequence

from claudia_llm.core.record import Action, Answer
from claudia_llm.core.replies import motion_reply

from .guards import Guards, extract_guards
from .japanese import drop_fillers, drop_punctuation, strip_vocative
from .japanese_polite import drop_politeness
from .morph import Morph, analyse
from .normalize import fold_width_case, has_kana, to_simplified

WALK, SIDE, TURN = 'walk', 'side', 'turn'
LINEAR_UNITS = {'step': None, 'm': 1.0, 'cm': 0.01}  # step: the table's step length
ANGLE_UNITS = {'deg': math.pi / 180.0, 'turn': 2.0 * math.pi}
QUANTITY_UNITS = frozenset(LINEAR_UNITS) | frozenset(ANGLE_UNITS) | {'s'}
DEFAULT_TURN_RAD = math.pi / 2.0   # "turn left": a quarter turn
HEDGED_TURN_RAD = math.pi / 6.0    # "turn left a little": 30 degrees

JA_WALK_VERBS = frozenset(('歩く', '進む', '下がる', '行く', '動く', '前進', '後退', '移動',
                           '後進'))
# Walk words that name their direction themselves (3歩進んで, 下がって, 后退, advance).
IMPLIED = {'進む': 'forward', '前進': 'forward', '下がる': 'back', '後退': 'back', '後進': 'back',
           '前进': 'forward', '后退': 'back', '退': 'back', 'advance': 'forward'}
JA_TURN_VERBS = frozenset(('回る', '曲がる', '向く', '回転', '旋回', 'ターン', '振り向く',
                           '向ける'))
JA_STRAIGHT = frozenset(('真っ直ぐ', 'まっすぐ', '真っすぐ'))
JA_HEDGES = frozenset(('少し', 'ちょっと', '少々', 'ちょい', '軽い'))
JA_FREE_LEMMAS = frozenset(('為る', '呉れる', '下さる', '貰う', '頂く', '欲しい', 'ゆっくり',
                            '一緒', '今', 'すぐ', '早く', 'もう', '一度', 'ほう', '方', '方向',
                            '側'))
JA_DIRECTION_WORDS = frozenset(('右', '左', '前', '後ろ', '後', '前方', '後方', 'ライト',
                                'レフト', 'バック', '右側', '左側', 'みぎ', 'ひだり', 'まえ',
                                'うしろ', '下'))
JA_UNITS = frozenset(('歩', '度', '秒', 'メートル', 'センチ', '周', '秒間'))
JA_FREE_POS = frozenset(('助詞', '助動詞', '接尾辞', '補助記号', '空白', '記号'))

ZH_TURN = re.compile(r'[转轉拐]|掉头|回头|旋转')
ZH_WALK = re.compile(r'[走进退移挪跑]|前进|后退|移动')
ZH_HEDGE = re.compile(r'一点|一下|一些|稍微|有点')
# What may stand around the motion words of a Chinese phrasing (removed before the check).
ZH_FREE = re.compile(
    r'请|麻烦|你|给我|一下|一点|一些|稍微|吧|呀|啊|呢|了|的|地|好|往|向|朝|到|再|慢慢|'
    r'前面|后面|左边|右边|左侧|右侧|前方|后方|前|后|左|右|直|'
    r'[转轉拐]|掉头|旋转|[走进退移挪]|前进|后退|移动|'
    r'\d+(?:\.\d+)?|[零〇一二两兩三四五六七八九十百]+|步|米|公尺|厘米|公分|度|圈|周|秒|钟|个|[\s，,。.!！]')

EN_TURN = frozenset(('turn', 'rotate', 'spin', 'pivot'))
EN_WALK = frozenset(('walk', 'go', 'move', 'step', 'steps', 'head', 'advance', 'back', 'backup',
                     'walking', 'moving', 'going'))
EN_HEDGES = frozenset(('little', 'bit', 'slightly'))
EN_FREE = frozenset((
    'please', 'can', 'could', 'would', 'you', 'now', 'the', 'a', 'an', 'for', 'by', 'to',
    'and', 'then', 'just', 'about', 'around', 'your', 'yourself', 'up', 'straight', 'ahead',
    'forward', 'forwards', 'backward', 'backwards', 'left', 'right', 'degree', 'degrees',
    'deg', 'meter', 'meters', 'metre', 'metres', 'm', 'cm', 'centimeter', 'centimeters',
    'second', 'seconds', 's', 'sec', 'secs', 'turns', 'little', 'bit', 'slightly', 'slowly',
    'okay', 'ok', 'hey', 'claudia', 'of', 'side', 'sideways', '°'))
EN_NUMBERWORDS = frozenset(('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven',
                            'eight', 'nine', 'ten'))  # not 'half': guards read no 0.5


@dataclass(frozen=True)
class Phrasing:
    """Speeds at which a phrasing is walked (the ``phrasing`` block of ``Move``).

    ``walk_mps`` forward/back speed, m/s; ``side_mps`` sideways, m/s; ``turn_radps`` yaw
    rate, rad/s; ``step_m`` the length of one step, m. Defaults: a calm indoor pace, well
    under the table's bounds (x 0.6 m/s, z 1.0 rad/s); check them on the robot.
    """

    walk_mps: float = 0.3
    side_mps: float = 0.2
    turn_radps: float = 0.8
    step_m: float = 0.2

    @classmethod
    def from_spec(cls, spec) -> 'Phrasing':
        """Build from ``ActionSpec.phrasing`` (YAML ``{walk_mps, side_mps, turn_radps, step_m}``).

        Raises:
            ValueError: a value that is not > 0.
            TypeError: an unknown name.
        """
        values = dict(spec.phrasing)
        phrasing = cls(**values)
        if min(phrasing.walk_mps, phrasing.side_mps, phrasing.turn_radps, phrasing.step_m) <= 0:
            raise ValueError('Move phrasing speeds must be > 0, got %r' % (values,))
        return phrasing


def parse(text: str, move_spec, phrasing: Optional[Phrasing] = None) -> Optional[Answer]:
    """The timed ``Move`` that ``text`` asks for, or None when it is not (only) that.

    Args:
        text: the utterance (one segment of a sequence, or all of it).
        move_spec: the action table's ``Move`` row (``ActionSpec``: api_id and the bounds
            of x, y, z and duration_s).
        phrasing: the speeds used for a distance or an angle; None: the spec's own.

    Returns:
        ``Answer(reply, [Action('Move', 1008, {x, y, z, duration_s})], 'command')``; x in
        m/s (+forward), y in m/s (+left), z in rad/s (+turn left), duration_s in s.

    >>> from claudia_llm.core.safety.actions import ActionRegistry
    >>> move = ActionRegistry.load().get('Move')
    >>> parse('三歩前へ', move).intent[0].parameter
    {'x': 0.3, 'y': 0.0, 'z': 0.0, 'duration_s': 2.0}
    >>> round(parse('turn left 90 degrees', move).intent[0].parameter['duration_s'], 2)
    1.96
    >>> parse('go back to sleep', move) is None, parse('前に歩かないで', move) is None
    (True, True)
    """
    folded = fold_width_case(text)
    if not folded.strip():
        return None
    phrasing = Phrasing.from_spec(move_spec) if phrasing is None else phrasing
    guards = extract_guards(folded)
    if guards.negated or guards.stop or guards.question or len(guards.numbers) > 1:
        return None
    if has_kana(folded):
        kind, hedged, direction = _japanese(folded, guards)
    elif re.search(r'[\u3400-\u9fff]', folded):
        kind, hedged, direction = _chinese(to_simplified(folded), guards)
    else:
        kind, hedged, direction = _english(folded, guards)
    if kind is None or direction is None:
        return None
    parameter = _parameter(kind, direction, guards, hedged, move_spec, phrasing)
    if parameter is None:
        return None
    return Answer(reply=motion_reply(kind, direction, text),
                  intent=[Action(move_spec.name, move_spec.api_id, parameter)], kind='command')


def _direction(directions: FrozenSet[str], implied: Optional[str]) -> Optional[str]:
    """The one planar direction, else the one its words imply (straight: forward)."""
    planar = directions & {'forward', 'back', 'left', 'right'}
    if directions - planar or len(planar) > 1:
        return None
    if not planar:
        return implied
    direction = next(iter(planar))
    return direction if implied in (None, direction) else None  # 前に下がって: which?


def _kind(turn: bool, walk: bool, direction: Optional[str], guards: Guards) -> Optional[str]:
    """walk/side/turn from the verbs, else from the unit (歩 walks, 度 turns)."""
    unit = guards.numbers[0][1] if guards.numbers else None
    if turn and not walk:
        return TURN if direction in ('left', 'right') else None
    if walk and not turn:
        if direction in ('left', 'right'):
            return SIDE if unit in LINEAR_UNITS else None  # "go left": turn or sidestep?
        return WALK
    if not turn and not walk:
        if unit in ANGLE_UNITS and direction in ('left', 'right'):
            return TURN
        if unit in LINEAR_UNITS and direction in ('forward', 'back'):
            return WALK
    return None


def _japanese(text: str, guards: Guards):
    morphs = drop_politeness(drop_fillers(drop_punctuation(strip_vocative(analyse(text)))))
    turn = walk = hedged = False
    implied = None
    for i, m in enumerate(morphs):
        if m.lemma in JA_TURN_VERBS or m.surface in JA_TURN_VERBS:
            turn = True
        elif m.lemma in JA_WALK_VERBS or m.surface in JA_WALK_VERBS:
            walk = True
            implied = IMPLIED.get(m.lemma, IMPLIED.get(m.surface, implied))
        elif m.lemma in JA_STRAIGHT or m.surface in JA_STRAIGHT:
            implied = 'forward'
        elif m.lemma in JA_HEDGES or m.surface in JA_HEDGES:
            hedged = True
        elif not _ja_free(morphs, i):
            return None, False, None
    direction = _direction(guards.directions, implied)
    return _kind(turn, walk, direction, guards), hedged, direction


def _ja_free(morphs: Sequence[Morph], i: int) -> bool:
    """A morph that may stand around a motion phrasing without changing it."""
    m = morphs[i]
    if m.pos1 in JA_FREE_POS or m.lemma in JA_FREE_LEMMAS or m.surface in JA_DIRECTION_WORDS:
        return True
    if m.pos2 == '数詞' or m.surface.isdecimal():
        return True
    if m.surface in JA_UNITS:  # only after a number: ➑歩 is not "a few steps"
        prev = morphs[i - 1] if i else None
        return prev is not None and (prev.pos2 == '数詞' or prev.surface.isdecimal())
    return m.lemma in JA_DIRECTION_WORDS


def _chinese(text: str, guards: Guards):
    if ZH_FREE.sub('', text).strip():
        return None, False, None
    turn = bool(ZH_TURN.search(text))
    walk = bool(ZH_WALK.search(text))
    implied = next((d for w, d in IMPLIED.items() if w in text),
                   'forward' if '直' in text else None)
    direction = _direction(guards.directions, implied)
    return _kind(turn, walk, direction, guards), bool(ZH_HEDGE.search(text)), direction


def _english(text: str, guards: Guards):
    words = re.findall(r'[a-z]+|\d+(?:\.\d+)?|°', text.replace("'", ''))
    turn = any(w in EN_TURN for w in words)
    walk = any(w in EN_WALK for w in words)
    for w in words:
        if not (w in EN_TURN or w in EN_WALK or w in EN_FREE or w in EN_NUMBERWORDS
                or w in ('step', 'steps') or re.fullmatch(r'\d+(?:\.\d+)?', w)):
            return None, False, None
    if 'back' in words and 'go' not in words and 'walk' not in words and 'step' not in words:
        walk = True  # "back up two meters"
    hedged = any(w in EN_HEDGES for w in words)
    directions = guards.directions
    if 'up' in directions and 'back' in directions and 'back up' in ' '.join(words):
        directions = directions - {'up'}  # back up = walk backwards
    implied = 'forward' if 'straight' in words or 'advance' in words else None
    direction = _direction(directions, implied)
    return _kind(turn, walk, direction, guards), hedged, direction


def _parameter(kind: str, direction: str, guards: Guards, hedged: bool, spec,
               phrasing: Phrasing) -> Optional[Dict[str, float]]:
    """``{x, y, z, duration_s}`` or None when the quantity does not fit one Move."""
    axis, speed = {WALK: ('x', phrasing.walk_mps), SIDE: ('y', phrasing.side_mps),
                   TURN: ('z', phrasing.turn_radps)}[kind]
    sign = -1.0 if direction in ('back', 'right') else 1.0
    bound, duration = spec.parameter(axis), spec.parameter('duration_s')
    value, unit = guards.numbers[0] if guards.numbers else (None, None)
    if value is not None and (value <= 0 or unit not in QUANTITY_UNITS):
        return None  # 0 steps, 5 times, a bare 5
    if unit == 's':
        seconds = value
        if not duration.minimum <= seconds <= duration.maximum:
            return None
    else:
        amount = _amount(kind, value, unit, hedged, phrasing)
        if amount is None:
            seconds = duration.default
        else:
            seconds = amount / speed
            if seconds > duration.maximum:  # faster, within the bound, to fit the longest Move
                seconds, speed = duration.maximum, amount / duration.maximum
            elif seconds < duration.minimum:
                seconds, speed = duration.minimum, amount / duration.minimum
            if speed > bound.maximum + 1e-9:
                return None
    parameter = {'x': 0.0, 'y': 0.0, 'z': 0.0, 'duration_s': round(seconds, 3)}
    parameter[axis] = round(sign * speed, 3)
    return parameter


def _amount(kind: str, value: Optional[float], unit: Optional[str], hedged: bool,
            phrasing: Phrasing) -> Optional[float]:
    """Distance in m (walk, side) or angle in rad (turn); None: the default duration."""
    if kind == TURN:
        if value is None:
            return HEDGED_TURN_RAD if hedged else DEFAULT_TURN_RAD
        return value * ANGLE_UNITS[unit] if unit in ANGLE_UNITS else None
    if value is None:
        return None
    if unit == 'step':
        return value * phrasing.step_m
    return value * LINEAR_UNITS[unit] if unit in LINEAR_UNITS else None
