"""The emergency tier on our own stop-word set and on ordinary sentences that look like it.

``test/data/stop_words.tsv``: stop commands in ja/zh/en, in every script and common verb
form (target: 0 misses). ``test/data/not_stops.tsv``: ordinary sentences with 止 or "stop"
in another sense (target: 0 false stops). ``bench/emergency_words.py`` prints the rates.
"""
import csv
from pathlib import Path
from typing import Dict, List

import pytest

from claudia_llm.core.understanding.emergency import is_emergency

DATA = Path(__file__).resolve().parents[1] / 'data'


def read(name: str) -> List[Dict[str, str]]:
    with open(DATA / name, encoding='utf-8', newline='') as stream:
        lines = [line for line in stream if not line.startswith('#')]
    return list(csv.DictReader(lines, delimiter='\t', quoting=csv.QUOTE_NONE))


STOPS = read('stop_words.tsv')
NOT_STOPS = read('not_stops.tsv')


def test_sets_are_large_enough_and_cover_three_languages():
    assert len(STOPS) >= 60 and len(NOT_STOPS) >= 30
    assert {r['lang'] for r in STOPS} == {r['lang'] for r in NOT_STOPS} == {'ja', 'zh', 'en'}
    assert len({r['text'] for r in STOPS}) == len(STOPS)
    assert not {r['text'] for r in STOPS} & {r['text'] for r in NOT_STOPS}


@pytest.mark.parametrize('row', STOPS, ids=[r['text'] for r in STOPS])
def test_every_stop_form_stops(row):
    assert is_emergency(row['text']), row['form']


@pytest.mark.parametrize('row', NOT_STOPS, ids=[r['text'] for r in NOT_STOPS])
def test_ordinary_sentences_do_not_stop(row):
    assert not is_emergency(row['text']), row['why']
