"""VectorIndex: top-1 cosine within a group, replace, remove, growth and expiry."""
import math

import numpy as np
import pytest

from claudia_llm.core.cache.vector_index import VectorIndex


def unit(*values):
    vector = np.asarray(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_best_is_top1_cosine_within_the_group():
    index = VectorIndex(3)
    index.put('a', unit(1, 0, 0), 'g', payload='A')
    index.put('b', unit(1, 1, 0), 'g', payload='B')
    index.put('c', unit(1, 0.1, 0), 'other', payload='C')
    match = index.best(unit(1, 0.2, 0), 'g')
    assert (match.key, match.payload) == ('a', 'A')
    assert match.score == pytest.approx(float(unit(1, 0.2, 0) @ unit(1, 0, 0)))
    # 'c' is closer but in another group; a group never seen has no candidates.
    assert index.best(unit(1, 0.1, 0), 'g').key == 'a'
    assert index.best(unit(1, 0.1, 0), 'other').key == 'c'
    assert index.best(unit(1, 0, 0), 'unseen') is None
    assert index.has_group('g') and not index.has_group('unseen')


def test_put_replaces_and_remove_moves_the_last_row():
    index = VectorIndex(2, capacity=1)  # forces growth
    for i in range(5):
        index.put('k%d' % i, unit(1, i), 'g', payload=i)
    assert len(index) == 5
    index.put('k1', unit(0, 1), 'g', payload='new')
    assert len(index) == 5 and index.payload('k1') == 'new'
    assert index.remove('k0') and not index.remove('k0')
    assert 'k0' not in index and len(index) == 4
    assert sorted(index.keys()) == ['k1', 'k2', 'k3', 'k4']
    # The moved row keeps its vector: querying it exactly scores 1.
    assert index.best(unit(1, 4), 'g').key == 'k4'
    assert index.best(unit(1, 4), 'g').score == pytest.approx(1.0)
    index.clear()
    assert len(index) == 0 and index.best(unit(1, 0), 'g') is None


def test_expired_rows_are_dropped_before_a_lookup():
    index = VectorIndex(2)
    index.put('short', unit(1, 0), 'g', expires_at=10.0)
    index.put('long', unit(0, 1), 'g', expires_at=20.0)
    index.put('never', unit(1, 1), 'g')
    assert index.best(unit(1, 0), 'g', now=5.0).key == 'short'
    assert index.best(unit(1, 0), 'g', now=10.0).key == 'never'
    assert index.keys() == ['never', 'long']
    assert index.expire(25.0) == ['long'] and index.expire(1e9) == []
    assert index.keys() == ['never']


def test_rejects_bad_shapes():
    with pytest.raises(ValueError, match='dim and capacity'):
        VectorIndex(0)
    index = VectorIndex(3)
    with pytest.raises(ValueError, match='has 2 values, index dim is 3'):
        index.put('x', unit(1, 0), 'g')
    assert index.best(unit(1, 0, 0), 'g') is None
    assert math.isinf(index._next_expiry)
