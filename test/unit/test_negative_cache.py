"""NegativeCache: absent keys remembered under a change token, with a TTL and a bound."""
import pytest

from claudia_llm.core.cache.negative import NegativeCache


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_absent_key_is_known_until_its_ttl():
    clock = FakeClock()
    memo = NegativeCache(ttl_s=10.0, clock=clock)
    memo.note_absent('k', b'1')
    assert memo.knows_absent('k') and memo.skipped == 1
    clock.now += 10.0
    assert not memo.knows_absent('k')
    assert len(memo) == 0


def test_a_new_change_token_drops_every_absent_key():
    memo = NegativeCache(ttl_s=60.0, clock=FakeClock())
    memo.note_absent('a', b'1')
    memo.note_absent('b', b'1')
    memo.saw_token(b'1')
    assert memo.knows_absent('a') and memo.knows_absent('b')
    memo.saw_token(b'2')  # some process wrote
    assert not memo.knows_absent('a') and not memo.knows_absent('b')


def test_noting_under_a_new_token_starts_a_new_memo():
    memo = NegativeCache(ttl_s=60.0, clock=FakeClock())
    memo.note_absent('a', None)  # the token key did not exist yet
    memo.note_absent('b', b'1')  # a write happened in between
    assert not memo.knows_absent('a') and memo.knows_absent('b')


def test_forget_and_clear():
    memo = NegativeCache(ttl_s=60.0, clock=FakeClock())
    memo.note_absent('a', b'1')
    memo.note_absent('b', b'1')
    memo.forget('a')
    assert not memo.knows_absent('a') and memo.knows_absent('b')
    memo.clear()
    assert not memo.knows_absent('b') and memo.token is None


def test_the_least_recently_noted_key_goes_first():
    memo = NegativeCache(ttl_s=60.0, max_keys=2, clock=FakeClock())
    for key in ('a', 'b', 'c'):
        memo.note_absent(key, b'1')
    assert [memo.knows_absent(k) for k in ('a', 'b', 'c')] == [False, True, True]


def test_check_is_due_only_with_a_memo_and_after_check_s():
    clock = FakeClock()
    memo = NegativeCache(ttl_s=60.0, check_s=0.5, clock=clock)
    assert not memo.check_due()  # nothing to protect
    memo.note_absent('a', b'1')
    assert not memo.check_due()
    clock.now += 0.5
    assert memo.check_due()
    memo.saw_token(b'1')
    assert not memo.check_due() and memo.knows_absent('a')


def test_zero_ttl_turns_it_off():
    memo = NegativeCache(ttl_s=0.0, clock=FakeClock())
    memo.note_absent('a', b'1')
    assert not memo.enabled and not memo.knows_absent('a')


@pytest.mark.parametrize('kwargs', [{'ttl_s': -1.0}, {'ttl_s': 1.0, 'check_s': -1.0},
                                    {'ttl_s': 1.0, 'max_keys': 0}])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        NegativeCache(**kwargs)
