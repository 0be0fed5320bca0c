"""``llm.backend`` picks the LLM client (``core.build.make_llm``) and its health probe."""
import asyncio
import logging

from claudia_llm.core import build, health
from claudia_llm.core.config import config_from
from claudia_llm.core.llm.ollama import OllamaChat
from claudia_llm.core.llm.openai_chat import OpenAIChat


def test_ollama_is_the_default_backend():
    config = config_from({'ollama.host': 'http://orin:11434'}, environ={})
    llm = build.make_llm(config)
    try:
        assert isinstance(llm, OllamaChat) and llm.host == 'http://orin:11434'
    finally:
        asyncio.run(llm.aclose())
    probe = health.llm_probe(config, 0.5)
    assert probe.func is health.ollama_healthy
    assert probe.args == ('http://orin:11434', 0.5, 'qwen2.5:7b')


def test_the_openai_backend_gets_url_key_model_timeouts_and_sampling(caplog):
    config = config_from({'llm.backend': 'openai', 'ollama.model': 'qwen2.5-7b-instruct',
                          'ollama.timeout_s': 3.0, 'ollama.connect_timeout_s': 0.5,
                          'ollama.num_predict': 200, 'ollama.seed': 7},
                         environ={'OPENAI_BASE_URL': 'http://orin:8000/v1',
                                  'OPENAI_API_KEY': 'sk-robot'})
    with caplog.at_level(logging.INFO, logger='claudia_llm.core.build'):
        llm = build.make_llm(config)
    try:
        assert isinstance(llm, OpenAIChat)
        assert (llm.base_url, llm.api_key, llm.model) == (
            'http://orin:8000/v1', 'sk-robot', 'qwen2.5-7b-instruct')
        assert (llm.timeout_s, llm.connect_timeout_s) == (3.0, 0.5)
        assert llm.options == {'temperature': 0.0, 'seed': 7, 'max_tokens': 200}
        assert llm.response_format['json_schema']['schema'] == llm.profile.schema
    finally:
        asyncio.run(llm.aclose())
    logged = caplog.text
    assert 'http://orin:8000/v1 (from environment OPENAI_BASE_URL)' in logged
    assert 'API key from environment OPENAI_API_KEY' in logged and 'sk-robot' not in logged
    probe = health.llm_probe(config, 0.5)
    assert probe.func is health.openai_healthy
    assert probe.args == ('http://orin:8000/v1', 0.5, 'qwen2.5-7b-instruct', 'sk-robot')

