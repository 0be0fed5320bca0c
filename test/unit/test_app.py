"""Engine wiring: an embedder that cannot load turns the semantic tier off, not the node.

Engines are built inside a running loop, as llm_node does (on Python 3.8 redis-py's pool
lock binds to the loop current at creation).
"""
import asyncio
import logging

import pytest

from claudia_llm.core.app import Engine
from claudia_llm.core.errors import ConfigError
from claudia_llm.core.settings import defaults


def settings(**overrides):
    s = defaults('llm_node')
    s.update({'scheduler.backend': 'memory', 'ollama.warmup': False,
              'redis.url': 'redis://127.0.0.1:1/0', 'redis.connect_timeout_s': 0.2})
    s.update(overrides)
    return s


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

    with caplog.at_level(logging.ERROR, logger='claudia_llm.core.app'):
        record = asyncio.run(build_and_ask())
    assert 'semantic cache tier OFF' in caplog.text
    assert record.source == 'exact' and record.intent == ['Sit']
    assert records == [record]


def test_unknown_embedder_kind_is_a_configuration_error():
    async def build():
        Engine(settings(**{'cache.embedder': 'bogus'}), lambda record: None)

    with pytest.raises(ConfigError, match='cache.embedder must be one of'):
        asyncio.run(build())
