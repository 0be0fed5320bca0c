"""Sequences for the exact tier: 「立ってから挨拶して」 = StandUp then Hello, without the LLM.

``compose`` looks the whole utterance up first (so a whole-phrase entry such as 座りから立つ =
RiseSit wins), then splits it at explicit connectors and succeeds only when every segment is a
command hit.

Safety principle: a high-risk action (``risk: high``: flips, jumps, pounce, Damp) is
understood here only from a strict key (``core.normalize.strict_key``), which folds width,
case, punctuation and politeness but not spelling. A folded-key hit whose intent holds a
high-risk action is discarded, and ``store_key`` puts answers with such actions under their
strict key, so reading-based folding can never produce a high-risk intent.
"""
import re
from typing import Awaitable, Callable, Collection, FrozenSet, Generator, List, Optional, Tuple

from claudia_llm.core.record import Answer

from .japanese import analyse, is_filler, is_punctuation
from .normalize import EN_FILLERS, STRICT_PREFIX, fold_width_case, has_kana, normalize, strict_key
from .readings import Spellings

MAX_SEGMENTS = 6
Lookup = Callable[[str], Optional[Answer]]
Parse = Callable[[str], Optional[Answer]]  # a segment -> its answer by rule (motion.parse)
AsyncLookup = Callable[[str], Awaitable[Optional[Answer]]]
_DEFAULT_HIGH_RISK: Optional[FrozenSet[str]] = None
Span = Tuple[int, int]

_HEAD_MARKERS = re.compile(r'^\s*(?:まず|先に|最初に|初めに|はじめに|first of all|first|firstly)'
                           r'(?:[\s,、，]+|(?=\S))')
_ZH_HEAD_MARKERS = re.compile(r'^\s*(?:首先|先)(?=\S)')
_LATIN_ZH_CONNECTORS = re.compile(
    r'\s*(?:[,;，；、。!?！？]|\.(?!\d)|\band then\b|\bthen\b|\band\b|\bafter that\b|'
    r'\bafterwards\b|然后|之后|以后|接着|随后|然後|之後|並且|并且|再(?![见見次来來])|'
    r'(?<=[\u4e00-\u9fff]了)(?=[\u4e00-\u9fff](?<![吗嗎呢吧啊呀哦啦])))\s*')
_JA_CONJUNCTIONS = frozenset(('そして', 'それから', 'それで', 'で', 'あと', 'あとで', '次に',
                              'つぎに', 'その後', 'そのあと'))
_NOT_A_NEW_COMMAND = frozenset(('下さる', '呉れる', '為さる', '頂戴', '貰う', '頂く', '欲しい',
                                '見る', '居る', '置く', '仕舞う', '有る', '行く', '来る'))


def _ja_conjunction(morphs, i: int) -> int:
    """How many tokens from ``i`` spell a conjunction (それから may be それ + から), or 0."""
    for k in (3, 2, 1):
        phrase = ''.join(m.surface for m in morphs[i:i + k])
        if len(morphs[i:i + k]) == k and phrase in _JA_CONJUNCTIONS and (
                k > 1 or morphs[i].pos1 in ('接続詞', '名詞', '副詞')):
            return k
    return 0


def _is_te_chain(morphs, i: int) -> bool:
    """True when the te particle at ``i`` ends one command and a new one starts after it."""
    m, prev = morphs[i], morphs[i - 1] if i else None
    nxt = morphs[i + 1] if i + 1 < len(morphs) else None
    return (m.pos1 == '助詞' and m.lemma == 'て' and prev is not None
            and prev.pos1 in ('動詞', '助動詞') and nxt is not None
            and nxt.surface not in ('から', 'は', 'も', 'ね', 'よ')
            and nxt.lemma not in _NOT_A_NEW_COMMAND and not is_punctuation(nxt.surface)
            and (nxt.pos1 in ('名詞', '接頭辞', '副詞', '感動詞', '代名詞')
                 or (nxt.pos1 == '動詞' and nxt.pos2 == '一般')))


def _ja_cuts(text: str) -> List[Span]:
    """Character ranges of ``text`` that separate commands (removed), Japanese rules."""
    morphs = analyse(text)
    cuts: List[Span] = []
    i = 0
    while i < len(morphs):
        m, prev = morphs[i], morphs[i - 1] if i else None
        conjunction = _ja_conjunction(morphs, i)
        if conjunction:
            cuts.append((m.start, morphs[i + conjunction - 1].end))
            i += conjunction
            continue
        if is_punctuation(m.surface):
            cuts.append((m.start, m.end))
        elif m.surface == 'から' and prev is not None and prev.lemma == 'て':
            cuts.append((m.start, m.end))
        elif m.pos1 == '助動詞' and m.lemma == 'た' and m.surface in ('たら', 'だら'):
            cuts.append((m.start, m.end))
        elif _is_te_chain(morphs, i):
            cuts.append((m.end, m.end))  # te-form chain: 立って|挨拶
        i += 1
    return cuts


def _regex_cuts(text: str) -> List[Span]:
    return [(m.start(), m.end()) for m in _LATIN_ZH_CONNECTORS.finditer(text)]


def _spans(text: str) -> List[Span]:
    """[start, end) of every segment of ``text`` (already width/case folded)."""
    cuts = _ja_cuts(text) if has_kana(text) else _regex_cuts(text)
    spans, pos = [], 0
    for start, end in sorted(cuts) + [(len(text), len(text))]:
        if start >= pos:
            spans.append((pos, start))
            pos = end
    out = []
    for start, end in spans:
        head = _HEAD_MARKERS.match(text, start, end) or (
            None if has_kana(text) else _ZH_HEAD_MARKERS.match(text, start, end))
        if head and head.end() < end:
            start = head.end()
        segment = text[start:end].strip()
        if segment and not is_punctuation(segment) and not is_filler(segment) \
                and segment not in EN_FILLERS:
            out.append((start, end))
    return out


def split_sequence(text: str) -> List[str]:
    """Split an utterance into the commands it chains, in order.

    Connectors: から/てから, そして, それから, その後, 次に, たら, 、 and other punctuation, the
    te-form chain (立って挨拶), and then, then, and, after that, 然后, 之后, 接着, 再, a
    clause-final 了 followed by more (累了|想休息, kept with its clause); a
    leading まず/先に/first/先/首先 is dropped. Segments are width/case folded substrings.
    Whether each is a command is ``compose``'s business.

    >>> split_sequence('立ってから挨拶して'), split_sequence('立ってダンス')
    (['立って', '挨拶して'], ['立って', 'ダンス'])
    >>> split_sequence('Stand up and then wave'), split_sequence('先坐下再站起来')
    (['stand up', 'wave'], ['坐下', '站起来'])
    >>> split_sequence('座ってください')
    ['座ってください']
    """
    folded = fold_width_case(text)
    return [folded[s:e].strip() for s, e in _spans(folded)]


Steps = Generator[str, Optional[Answer], Optional[Answer]]


def _lookup_steps(text: str, high_risk: Collection[str],
                  spellings: Optional[Spellings] = None) -> Steps:
    """Yield the strict key, the folded key, then the folded keys of other spellings.

    Returns the answer (see ``lookup_one``). Spelling variants (``core.readings``) are tried
    only by folded key, so they can never produce a high-risk action.
    """
    strict = strict_key(text)
    answer = (yield strict) if strict != STRICT_PREFIX else None
    if answer is not None:
        return answer
    keys = [normalize(text)]
    if spellings is not None:
        keys += [normalize(v) for v in spellings.variants(text)]
    tried = set()
    for key in keys:
        if not key or key in tried:
            continue
        tried.add(key)
        answer = yield key
        if answer is not None:
            return None if any(a.name in high_risk for a in answer.intent) else answer
    return None


def _compose_steps(text: str, high_risk: Collection[str],
                   spellings: Optional[Spellings] = None,
                   parse: Optional[Parse] = None) -> Steps:
    """The logic of ``compose``: yields keys to look up, receives their answers."""
    whole = yield from _lookup_steps(text, high_risk, spellings)
    if whole is not None:
        return whole
    folded = fold_width_case(text)
    spans = _spans(folded)
    if len(spans) == 1 and parse is not None:
        whole = parse(text)
        if whole is not None:
            return whole
    if not spans or len(spans) > MAX_SEGMENTS or (
            len(spans) == 1 and folded[spans[0][0]:spans[0][1]].strip() == folded.strip()):
        return None
    parts: List[Answer] = []
    i = 0
    while i < len(spans):
        for j in range(len(spans), i, -1):
            segment = folded[spans[i][0]:spans[j - 1][1]]
            answer = yield from _lookup_steps(segment, high_risk, spellings)
            if answer is None and j == i + 1 and parse is not None:
                answer = parse(segment)
            if answer is not None and answer.kind == 'command' and answer.intent:
                break
        else:
            return None
        parts.append(answer)
        i = j
    parts = [p for i, p in enumerate(parts) if i == 0 or p.intent != parts[i - 1].intent]
    return Answer(reply=' '.join(p.reply for p in parts if p.reply),
                  intent=[a for p in parts for a in p.intent], kind='command')


def _run(steps: Steps, lookup: Lookup) -> Optional[Answer]:
    try:
        key = next(steps)
        while True:
            key = steps.send(lookup(key))
    except StopIteration as done:
        return done.value


def default_high_risk() -> FrozenSet[str]:
    """High-risk action names of the packaged action table (loaded once)."""
    global _DEFAULT_HIGH_RISK
    if _DEFAULT_HIGH_RISK is None:
        from claudia_llm.core.safety.actions import ActionRegistry
        registry = ActionRegistry.load()
        _DEFAULT_HIGH_RISK = frozenset(s.name for s in registry if s.risk == 'high')
    return _DEFAULT_HIGH_RISK


def lookup_one(text: str, lookup: Lookup,
               high_risk: Optional[Collection[str]] = None) -> Optional[Answer]:
    """Look ``text`` up by its strict key, then by its folded key.

    A folded hit whose intent has a ``high_risk`` action (None: ``default_high_risk()``) is
    discarded (None).
    """
    risky = default_high_risk() if high_risk is None else high_risk
    return _run(_lookup_steps(text, risky), lookup)


def compose(text: str, lookup: Lookup, high_risk: Optional[Collection[str]] = None,
            spellings: Optional[Spellings] = None,
            parse: Optional[Parse] = None) -> Optional[Answer]:
    """Answer ``text`` from exact keys alone, composing sequences.

    Args:
        text: the utterance.
        lookup: key -> cached Answer or None (keys from ``normalize`` / ``strict_key``).
        high_risk: action names only a strict key may produce; None means the packaged
            action table's ``risk: high`` actions (pass ``Lexicon.high_risk()`` when the
            table comes from elsewhere).
        spellings: kana spellings of the lexicon's words (``Lexicon.spellings()``) whose
            variants are tried after the utterance as written; None tries none.
        parse: tried on the whole utterance (when it is one segment) and on each single
            segment that no key answers, for commands with quantities that no table can
            hold (``core.understanding.motion.parse``: 三歩前へ); None tries nothing.

    Returns:
        The whole utterance's answer if its key is known; else, when it splits into
        segments that are all command hits (adjacent segments tried together first, longest
        first), one command answer with their intents in order and their replies joined by
        a space (a segment asking again for what the one before asked, 累了|想休息, is
        said once); else None.

    >>> from claudia_llm.core.record import Action
    >>> table = {normalize('立って'): Answer('Up.', [Action('StandUp', 1004)], 'command'),
    ...          normalize('挨拶'): Answer('Hi!', [Action('Hello', 1016)], 'command')}
    >>> [a.name for a in compose('立ってから挨拶してください', table.get, ()).intent]
    ['StandUp', 'Hello']
    >>> compose('立たないで挨拶', table.get, ()) is None
    True
    """
    risky = default_high_risk() if high_risk is None else high_risk
    return _run(_compose_steps(text, risky, spellings, parse), lookup)


async def compose_async(text: str, lookup: AsyncLookup,
                        high_risk: Optional[Collection[str]] = None,
                        spellings: Optional[Spellings] = None,
                        parse: Optional[Parse] = None) -> Optional[Answer]:
    """``compose`` with an async ``lookup`` (for example a Redis-backed exact cache)."""
    steps = _compose_steps(text, default_high_risk() if high_risk is None else high_risk,
                           spellings, parse)
    try:
        key = next(steps)
        while True:
            key = steps.send(await lookup(key))
    except StopIteration as done:
        return done.value


def store_key(text: str, answer: Answer, high_risk: Optional[Collection[str]] = None) -> str:
    """Exact-cache key under which to store ``answer`` to ``text``.

    The strict key when its intent has a high-risk action (None: ``default_high_risk()``),
    else the folded key. Storing such answers under the folded key would only waste the
    entry: ``compose`` discards folded hits with high-risk actions.
    """
    risky = default_high_risk() if high_risk is None else high_risk
    if any(a.name in risky for a in answer.intent):
        return strict_key(text)
    return normalize(text)
