"""Clients, caches and schedulers are constructed in ``core.build`` only (plain ``ast``).

The exceptions, each for a reason: ``ollama_transport`` makes the ``ollama.AsyncClient``
and ``openai_transport`` the ``openai.AsyncOpenAI`` (the health probes, below ``core.llm``,
need them too); ``redis_conn`` defines ``make_redis``;
the health probe opens its own short-lived Redis connection; ``ros.runner`` deletes an
isolated run's keys with a synchronous client after the nodes are gone.
"""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / 'claudia_llm'

ALLOWED = {
    'OllamaChat': {'core/build.py'},
    'OpenAIChat': {'core/build.py'},
    'AsyncClient': {'core/ollama_transport.py'},
    'AsyncOpenAI': {'core/openai_transport.py'},
    'make_redis': {'core/build.py', 'core/health.py'},
    'from_url': {'core/redis_conn.py', 'ros/runner.py', 'worker_main.py'},
    'FailoverStore': {'core/build.py'},
    'ExactCache': {'core/build.py'},
    'SemanticCache': {'core/build.py'},
    'InProcessScheduler': {'core/build.py'},
    'RedisScheduler': {'core/build.py'},
    'FailoverScheduler': {'core/build.py'},
    'LLMWorker': {'core/build.py'},
}


def constructions():
    """Yield ``(callee name, module path, line)`` for every call of a watched name."""
    for path in sorted(PACKAGE.rglob('*.py')):
        if 'testing' in path.relative_to(PACKAGE).parts:
            continue  # test helpers may build their own clients
        for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, 'id', '')
                if name in ALLOWED:
                    yield name, path.relative_to(PACKAGE).as_posix(), node.lineno


def test_clients_caches_and_schedulers_are_built_in_core_build_only():
    found = list(constructions())
    assert {name for name, _, _ in found} >= {'OllamaChat', 'make_redis', 'SemanticCache',
                                              'LLMWorker', 'AsyncClient', 'OpenAIChat',
                                              'AsyncOpenAI'}
    elsewhere = ['%s:%d builds %s' % (path, line, name) for name, path, line in found
                 if path not in ALLOWED[name]]
    assert elsewhere == []
