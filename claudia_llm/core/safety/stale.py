"""The ``stale`` rule: no motion for an utterance said too long ago.

A record can be answered long after its utterance: recovered by the next node after a
restart, or at the end of a long LLM queue. A dog that sits 7 s after it was asked
surprises people; one that walks then can hurt them. So actions of an utterance older
than ``safety.stale_after_s`` are withheld (StopMove excepted: stopping late is still
stopping), and the pipeline says so in the reply.
"""
import math
from typing import Any, List, Optional, Sequence, Tuple

from claudia_llm.core.record import PolicyChange

RULE = 'stale'
NEVER_STALE = frozenset(('StopMove',))


def is_stale(age_s: Optional[float], stale_after_s: float) -> bool:
    """True when ``age_s`` (s since the utterance; None = unknown) is over ``stale_after_s``.

    ``stale_after_s`` 0 turns the rule off; an unknown or non-finite age is never stale.
    """
    if age_s is None or stale_after_s <= 0:
        return False
    try:
        age = float(age_s)
    except (TypeError, ValueError):
        return False
    return math.isfinite(age) and age > stale_after_s


def withhold_stale(items: Sequence[Any], age_s: Optional[float],
                   stale_after_s: float) -> Tuple[List[Any], List[PolicyChange]]:
    """Split ``items`` (intent actions) into those kept and a ``stale`` change per withheld one.

    Args:
        items: the intent's actions (any objects; ``name`` is read when present).
        age_s: seconds since the utterance was said, or None.
        stale_after_s: the limit (``safety.stale_after_s``), seconds; 0 = off.

    Returns:
        ``(kept, changes)``: everything kept when not stale, else only StopMove.
    """
    if not is_stale(age_s, stale_after_s):
        return list(items), []
    kept, changes = [], []
    for item in items:
        name = getattr(item, 'name', None)
        if name in NEVER_STALE:
            kept.append(item)
        else:
            changes.append(PolicyChange(
                name if isinstance(name, str) else repr(item)[:40], RULE,
                'said %.1f s ago, more than %.1f s (safety.stale_after_s)'
                % (float(age_s), stale_after_s)))
    return kept, changes
