"""Japanese politeness rules: request and polite forms that do not change what is asked.

Plain functions over a list of ``Morph`` (see ``core.understanding.japanese``, whose
``PIPELINE`` runs them): ``drop_politeness`` (ください, てくれませんか, お願いします ...),
``drop_honorific_suffix`` (お疲れ様 = お疲れ) and ``drop_goal_particle`` (正しい姿勢に =
正しい姿勢).
"""
from typing import List, Sequence

from .morph import Morph, analyse, surfaces  # noqa: F401 - analyse, surfaces: examples

# Request and politeness endings that do not change what is asked (lemmas).
_POLITE_LEMMAS = frozenset(('下さる', '呉れる', '為さる', '頂戴', '貰う', '頂く', '欲しい', '見る',
                            'ます', 'です', '御座る', '御覧'))
_REQUEST_AUX = frozenset(('呉れる', '貰う', '頂く'))
_NEGATIONS = frozenset(('ない', 'ず', 'ぬ', 'ん'))
_FINAL_PARTICLES = frozenset(('ね', 'よ', 'な', 'ぞ', 'ぜ', 'わ', 'さ', 'ねえ', 'なあ', 'よね'))
_SOFTENERS = frozenset(('ちょっと', 'どうか', 'どうぞ', 'ちょい'))
# Nouns of a posture or mode that take に (になって, にして) as the goal of the change.
_GOAL_NOUNS = frozenset(('姿勢', '体勢', '格好', 'ポーズ', 'モード', '状態'))


def drop_politeness(morphs: Sequence[Morph]) -> List[Morph]:
    """Drop request and politeness forms that do not change what is asked.

    These are ください, てくれ(る), なさい, ちょうだい, てもらえますか, てほしい, てみて,
    お願いします, です/ます, ございます, sentence-final ね/よ/な (not the prohibitive な after a
    verb) and a leading ちょっと/どうか. A negation (ません, くれない) is kept.

    >>> surfaces(drop_politeness(analyse('座ってください')))
    ['座っ', 'て']
    >>> surfaces(drop_politeness(analyse('座ってもらえますか')))
    ['座っ', 'て']
    >>> surfaces(drop_politeness(analyse('座りません')))
    ['座り', 'ん']
    >>> surfaces(drop_politeness(analyse('座ってくれませんか')))
    ['座っ', 'て']
    >>> surfaces(drop_politeness(analyse('座るな')))
    ['座る', 'な']
    >>> surfaces(drop_politeness(analyse('可愛いね')))
    ['可愛い']
    >>> surfaces(drop_politeness(analyse('お願いします')))
    ['お', '願い', 'し', 'ます']
    """
    out = [m for m in morphs if not (m.pos1 == '助動詞' and m.lemma in ('ます', 'です'))]
    while len(out) > 1 and out[0].surface in _SOFTENERS:
        out = out[1:]
    while len(out) > 1:
        last = out[-1]
        if last.pos1 == '助詞' and last.pos2 == '終助詞' and last.surface in _FINAL_PARTICLES:
            if last.surface == 'な' and out[-2].pos1 == '動詞' and \
                    not out[-2].cform.startswith('連用形-一般'):
                break  # prohibitive な (座るな = don't sit)
            out.pop()
        elif last.surface == 'か' and (out[-2].cform.startswith('意志推量形') or len(out) > 2 and (
                out[-2].lemma in _POLITE_LEMMAS or _negated_request(out[:-1]))):
            out.pop()  # 座ってもらえるか, 座ろうか, 座ってくれないか
        elif last.pos1 == '助動詞' and _negated_request(out):
            out.pop()  # くれない / くれません: a polite request, not a negation
        elif last.lemma == '良い' and len(out) > 4 and out[-2].surface == 'も' and \
                out[-3].lemma == 'て' and out[-4].lemma in _REQUEST_AUX:
            del out[-3:]  # 座ってもらってもいい
        elif last.lemma in _POLITE_LEMMAS and out[-2].surface in ('て', 'で', 'し') or \
                last.lemma in ('下さる', '為さる', '頂戴', '御座る'):
            out.pop()
        elif last.lemma == '願う' or (last.lemma == '為る' and out[-2].lemma == '願う'):
            out.pop()
            if out and out[-1].lemma == '御' and len(out) > 1:
                out.pop()
        elif last.surface == 'て' and len(out) > 2 and out[-2].lemma in _POLITE_LEMMAS:
            out.pop()  # the て of てみて
        else:
            break
    if all(m.pos1 == '接頭辞' for m in out):
        return list(morphs)  # politeness alone (お願いします) stays as said
    return out


def _negated_request(morphs: Sequence[Morph]) -> bool:
    """True when ``morphs`` end in て + くれる/もらえる/いただける + a negation (くれない)."""
    return (len(morphs) > 3 and morphs[-1].pos1 == '助動詞' and morphs[-1].lemma in _NEGATIONS
            and morphs[-2].lemma in _REQUEST_AUX and morphs[-3].lemma in ('て', 'で'))


def drop_honorific_suffix(morphs: Sequence[Morph]) -> List[Morph]:
    """Drop a final honorific 様/さま (and でした) after an お/ご noun: お疲れ様 = お疲れ.

    >>> surfaces(drop_honorific_suffix(analyse('お疲れ様')))
    ['お', '疲れ']
    >>> surfaces(drop_honorific_suffix(analyse('様')))
    ['様']
    """
    out = list(morphs)
    if len(out) > 3 and out[-1].lemma == 'た' and out[-1].pos1 == '助動詞':
        out = out[:-1]  # でした once です has gone: the past of the set phrase
    if len(out) > 2 and out[-1].pos1 == '接尾辞' and out[-1].lemma == '様' and \
            out[-2].pos1 == '名詞' and any(m.pos1 == '接頭辞' and m.lemma == '御' for m in out):
        return out[:-1]
    return list(morphs)


def drop_goal_particle(morphs: Sequence[Morph]) -> List[Morph]:
    """Drop a final に (or になる in any form) after a posture or mode noun.

    正しい姿勢に(なって) asks for 正しい姿勢; other nouns keep に (横に = sideways).

    >>> surfaces(drop_goal_particle(analyse('正しい姿勢になって')))
    ['正しい', '姿勢']
    >>> surfaces(drop_goal_particle(analyse('横に')))
    ['横', 'に']
    """
    out = list(morphs)
    if len(out) > 1 and out[-1].lemma == 'て' and out[-1].pos1 == '助詞':
        out = out[:-1]
    if len(out) > 2 and out[-1].lemma == '成る' and out[-2].surface == 'に':
        out = out[:-1]
    if len(out) > 1 and out[-1].surface == 'に' and out[-1].pos1 == '助詞' and \
            out[-2].surface in _GOAL_NOUNS:
        return out[:-1]
    return list(morphs)


def drop_aside(morphs: Sequence[Morph]) -> List[Morph]:
    """Drop what is said around a command without changing it.

    These are ておく/とく (座っといて = 座って), a permission ていい/てもいい (休んでいいよ =
    休んで), 一緒に/みんなで before the verb, "show me" after a noun (踊りを見せて = 踊り) and
    the verb of a cognate object (ダンスを踊って = ダンス).

    >>> surfaces(drop_aside(analyse('座っといて'))), surfaces(drop_aside(analyse('休んでもいい')))
    (['座っ'], ['休ん', 'で'])
    >>> surfaces(drop_aside(analyse('一緒に踊ろう')))
    ['踊ろう']
    >>> surfaces(drop_aside(analyse('踊りを見せて')))
    ['踊り']
    >>> surfaces(drop_aside(analyse('ダンスを踊って'))), surfaces(drop_aside(analyse('いい')))
    (['ダンス'], ['いい'])
    """
    out = list(morphs)
    if len(out) > 1 and out[-1].lemma == 'て' and out[-1].pos1 == '助詞' and \
            (out[-2].lemma == 'とく' or out[-2].lemma == '置く' and len(out) > 3):
        out = out[:-1]
    if len(out) > 1 and out[-1].lemma == 'とく' and out[-1].pos1 == '助動詞':
        out = out[:-1]  # 座っとく, 座っとけ
    elif len(out) > 2 and out[-1].lemma == '置く' and out[-2].lemma == 'て':
        out = out[:-2]  # 座っておいて
    if len(out) > 2 and out[-1].lemma == '良い' and out[-1].pos2 == '非自立可能':
        rest = out[:-2] if out[-2].surface == 'も' else out[:-1]
        if len(rest) > 1 and rest[-1].lemma == 'て' and rest[-2].pos1 == '動詞':
            out = rest
    if len(out) > 2 and out[0].lemma in ('一緒', '皆') and out[1].surface in ('に', 'で'):
        out = out[2:]
    if len(out) > 2 and out[-1].lemma == 'て' and out[-2].lemma in _SHOW_OR_DANCE:
        out = out[:-1]
    if len(out) > 2 and out[-1].lemma in _SHOW_OR_DANCE and out[-2].surface == 'を' and \
            out[-3].pos1 == '名詞':
        out = out[:-2]
    return out


# "Show me" (踊りを見せて) and the verb of a dance noun (ダンスを踊る): the noun is the ask.
_SHOW_OR_DANCE = frozenset(('見せる', '踊る'))
