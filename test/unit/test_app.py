"""Engine wiring: an embedder that cannot load turns the semantic tier off, not the node."""
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
    with caplog.at_level(logging.ERROR, logger='claudia_llm.core.app'):
        engine = Engine(settings(**{'cache.embedder': 'onnx-e5',
                                    'cache.embedder_model': 'no-such-variant'}),
                        records.append)
    assert engine.semantic is None and engine.pipeline.semantic is None
    assert 'semantic cache tier OFF' in caplog.text

    async def ask():
        await engine.start()
        try:
            return await engine.pipeline.handle('座って')
        finally:
            await engine.aclose()

    record = asyncio.run(ask())
    assert record.source == 'exact' and record.intent == ['Sit']
    assert records == [record]


def test_unknown_embedder_kind_is_a_configuration_error():
    with pytest.raises(ConfigError, match='cache.embedder must be one of'):
        Engine(settings(**{'cache.embedder': 'bogus'}), lambda record: None)
