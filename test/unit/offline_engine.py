"""An ``Engine`` with no Redis and no Ollama behind it, for tests of the pipeline itself.

Redis is a closed port (the caches run in memory after one refused connect of at most
0.2 s), the scheduler is in process and the LLM is never warmed up.
"""
import asyncio

from claudia_llm.core.app import Engine
from claudia_llm.core.settings import defaults

OFFLINE = {'scheduler.backend': 'memory', 'ollama.warmup': False,
           'redis.url': 'redis://127.0.0.1:1/0', 'redis.connect_timeout_s': 0.2}


def offline_settings(*layers):
    """llm_node's defaults with ``OFFLINE``, then each of ``layers`` ({name: value}) applied."""
    s = defaults('llm_node')
    for layer in (OFFLINE,) + layers:
        s.update(layer)
    return s


def answer_all(texts, **overrides):
    """The record (``to_dict()``) of each of ``texts``, asked in order of one fresh engine."""
    settings = offline_settings({'ollama.host': 'http://127.0.0.1:1', 'ollama.timeout_s': 0.5},
                                overrides)

    async def run():
        engine = Engine(settings, lambda record: None)
        await engine.start()
        try:
            return [(await engine.pipeline.handle(text)).to_dict() for text in texts]
        finally:
            await engine.aclose()
    return asyncio.run(run())
