"""Japanese forms around a command that do not change which action is asked for.

Plain functions over a list of ``Morph`` (``core.understanding.japanese.PIPELINE`` runs
them after the politeness rules):

- ``drop_continuing``: "keep doing it" asks for the same action: 座ってて, 座っていて,
  座ってろ, 座っていなさい = 座って. Only the request forms of ている (its te-form and
  imperative); the statement 座ってる / 座っている ("it is sitting") is left alone.
- ``drop_ability``: asking whether it can is asking for it: ダンスできる？, お座りできる？ =
  ダンス, お座り (the verb's own potential, 座れる？, is already its lemma). Negated
  (できない) is left alone.
- ``drop_place_deixis``: here/there says where, not what: ここに座って, そこでお座り = 座って.

The sentence type (question, request) is decided on the text before these rules, so a
question never shares a key with a statement.
"""
from typing import List, Sequence

from .morph import Morph, analyse, surfaces  # noqa: F401 - analyse, surfaces: examples

_DEICTIC_PLACES = frozenset(('此処', '其処', '彼処', 'ここ', 'そこ', 'あそこ'))
_PLACE_PARTICLES = frozenset(('に', 'で', 'へ'))


def _is_te(m: Morph) -> bool:
    return m.pos1 == '助詞' and m.lemma == 'て'


def drop_continuing(morphs: Sequence[Morph]) -> List[Morph]:
    """Drop the request forms of ている after a verb: 座ってて = 座って.

    >>> [surfaces(drop_continuing(analyse(t))) for t in ('座ってて', '座っていて')]
    [['座っ', 'て'], ['座っ', 'て']]
    >>> [surfaces(drop_continuing(analyse(t))) for t in ('座ってろ', '座ってる')]
    [['座っ'], ['座っ', 'てる']]
    """
    out = list(morphs)
    if len(out) < 2 or out[0].pos1 != '動詞':
        return out
    last = out[-1]
    if last.lemma == 'てる' and last.pos1 == '助動詞' and last.cform.startswith('命令形'):
        return out[:-1]  # 座ってろ
    if len(out) >= 3 and _is_te(last) and out[-2].lemma == 'てる' and \
            out[-2].cform.startswith('連用形'):
        return out[:-2] + [last]  # 座ってて
    if len(out) >= 4 and _is_te(last) and out[-2].lemma == '居る' and \
            out[-2].cform.startswith('連用形') and _is_te(out[-3]):
        return out[:-2]  # 座っていて
    if len(out) >= 3 and out[-1].lemma == '居る' and _is_te(out[-2]) and (
            out[-1].cform.startswith('連用形') or out[-1].cform.startswith('命令形')):
        return out[:-1]  # 座っていなさい (なさい already gone), 座っていろ
    return out


def drop_ability(morphs: Sequence[Morph]) -> List[Morph]:
    """Drop a final できる after a noun or a verb stem: ダンスできる = ダンス.

    >>> [surfaces(drop_ability(analyse(t))) for t in ('ダンスできる', 'ダンスできない')]
    [['ダンス'], ['ダンス', 'でき', 'ない']]
    """
    out = list(morphs)
    if len(out) > 1 and out[-1].lemma == '出来る' and out[-1].cform.startswith('終止形') and \
            out[-2].pos1 in ('名詞', '動詞'):
        return out[:-1]
    return out


def drop_place_deixis(morphs: Sequence[Morph]) -> List[Morph]:
    """Drop a leading ここに / そこで / あそこへ before a command: ここに座って = 座って.

    >>> surfaces(drop_place_deixis(analyse('ここに座って')))
    ['座っ', 'て']
    >>> surfaces(drop_place_deixis(analyse('ここにいて')))
    ['ここ', 'に', 'い', 'て']
    """
    out = list(morphs)
    if len(out) > 2 and (out[0].lemma in _DEICTIC_PLACES or out[0].surface in _DEICTIC_PLACES) \
            and out[1].pos1 == '助詞' and out[1].surface in _PLACE_PARTICLES \
            and out[2].lemma != '居る':  # ここにいて (stay here) is about the place
        return out[2:]
    return out
