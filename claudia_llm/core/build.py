"""The one place that constructs LLM clients, Redis clients, caches and schedulers.

Every function takes the typed ``core.config.Config``; ``core.app.Engine`` (llm_node and
the CLI's in-process nodes) and ``claudia-llm worker`` build their parts here, so the same
configuration gives the same clients, prompt version and coalescing keys everywhere.
Clients are lazy: building one never raises because Ollama or Redis is down.
"""
import logging
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Tuple, Union

from claudia_llm.core.cache.exact import ExactCache
from claudia_llm.core.cache.store import FailoverStore
from claudia_llm.core.errors import ConfigError
from claudia_llm.core.health import safe_url
from claudia_llm.core.llm.ollama import OllamaChat
from claudia_llm.core.llm.prompt import PromptProfile
from claudia_llm.core.llm.scheduler import (
    BLOCK_S,
    FailoverScheduler,
    InProcessScheduler,
    LLMWorker,
    OnOrphan,
    RedisScheduler,
    Scheduler,
    SlotLimiter,
)
from claudia_llm.core.redis_conn import make_redis
from claudia_llm.core.safety.actions import ActionRegistry
from claudia_llm.core.understanding.lexicon import Lexicon

from .config import Config

if TYPE_CHECKING:  # imported when used: the openai SDK adds ~0.25 s to every start
    from claudia_llm.core.llm.openai_chat import OpenAIChat

log = logging.getLogger(__name__)


def action_registry(config: Config) -> ActionRegistry:
    """The Go2 action table of ``safety.actions_path`` ('' = the packaged one).

    Raises:
        ConfigError: the table cannot be read or is invalid.
    """
    return ActionRegistry.load(_path(config.safety.actions_path))


def prompt_profile(config: Config, registry: Optional[ActionRegistry] = None) -> PromptProfile:
    """The system prompt and schema for ``registry`` and ``safety.max_actions``."""
    return PromptProfile(registry or action_registry(config),
                         max_actions=config.safety.max_actions)


def make_lexicon(config: Config, registry: ActionRegistry) -> Lexicon:
    """The command lexicon of ``cache.lexicon_path`` ('' = the packaged one)."""
    return Lexicon.load(_path(config.cache.lexicon_path), registry)


def make_llm(config: Config, profile: Optional[PromptProfile] = None
             ) -> Union[OllamaChat, 'OpenAIChat']:
    """The LLM client ``llm.backend`` asks for; logs the server and where it came from.

    'ollama': an ``OllamaChat`` of ``ollama.*``. 'openai': an ``OpenAIChat`` on
    ``llm.base_url`` with ``llm.api_key`` (its source is logged, never the key), the model,
    timeouts and sampling of ``ollama.*``. llm_node and a worker built from the same
    configuration send the same prompt version and options, and so compute the same
    coalescing keys.
    """
    o, profile = config.ollama, profile or prompt_profile(config)
    if config.llm.backend == 'openai':
        from claudia_llm.core.llm.openai_chat import OpenAIChat
        log.info('OpenAI-compatible server at %s (from %s), model %s, API key from %s',
                 config.llm.base_url, config.base_url_source, o.model, config.api_key_source)
        return OpenAIChat(config.llm.base_url, o.model, profile, api_key=config.llm.api_key,
                          timeout_s=o.timeout_s, connect_timeout_s=o.connect_timeout_s,
                          options=o.openai_options())
    log.info('Ollama at %s (from %s), model %s', o.host, config.ollama_host_source, o.model)
    return OllamaChat(o.host, o.model, profile, keep_alive=o.keep_alive,
                      timeout_s=o.timeout_s, connect_timeout_s=o.connect_timeout_s,
                      options=o.options())


def make_redis_clients(config: Config, block_s: float = BLOCK_S) -> Tuple[Any, Any]:
    """Return ``(commands, blocking)`` Redis clients of ``redis.url``.

    One pool for commands and one single connection for XREADGROUP BLOCK of up to
    ``block_s`` seconds (``core.redis_conn``); neither connects before its first command.
    """
    r = config.redis
    kw = dict(socket_timeout_s=r.socket_timeout_s, connect_timeout_s=r.connect_timeout_s)
    return (make_redis(r.url, **kw),
            make_redis(r.url, for_blocking_reads=True, block_s=block_s, **kw))


def make_store(config: Config, redis: Any) -> FailoverStore:
    """The answer store: Redis while it answers, memory while it does not."""
    return FailoverStore(redis, retry_interval_s=config.redis.retry_interval_s,
                         budget_s=config.redis.budget_ms / 1000.0,
                         change_key='%s:cachetok' % config.redis.key_prefix,
                         negative_ttl_s=config.cache.negative_ttl_s)


def make_exact(config: Config, store: FailoverStore, profile: PromptProfile) -> ExactCache:
    """The exact tier, keyed by model and prompt version under ``redis.key_prefix``."""
    return ExactCache(store, config.ollama.model, profile.version,
                      ttl_s=config.cache.exact_ttl_s, key_prefix=config.redis.key_prefix)


def make_semantic(config: Config, store: FailoverStore, profile: PromptProfile,
                  registry: ActionRegistry):
    """The semantic tier, or None when it is off or its embedder cannot load (logged).

    A model that fails to load (missing package, unreadable files) leaves the node up
    without the semantic tier, so emergency words, exact hits and the LLM still work.
    """
    if not config.cache.semantic_enabled:
        return None
    from claudia_llm.core.cache.embedder import make_embedder
    from claudia_llm.core.cache.semantic import SemanticCache
    c = config.cache
    try:
        embedder = make_embedder(c.embedder, c.embedder_model)
    except ConfigError as exc:
        log.error('semantic cache tier OFF: %s', exc)
        return None
    return SemanticCache(store, embedder, profile.version, threshold=c.semantic_threshold,
                         ttl_s=c.semantic_ttl_s, key_prefix=config.redis.key_prefix,
                         registry=registry, chat_threshold=c.semantic_threshold_chat)


def make_scheduler(config: Config, llm: Any, redis: Any = None, blocking_redis: Any = None,
                   on_orphan: Optional[OnOrphan] = None, origin: str = 'llm_node',
                   redis_factory: Callable[..., Any] = make_redis) -> Scheduler:
    """The LLM request scheduler ``scheduler.backend`` asks for.

    'memory' (or no ``redis`` client): an ``InProcessScheduler``. 'redis': a
    ``FailoverScheduler`` over a ``RedisScheduler`` named ``origin`` and the in-process
    one; with ``scheduler.in_node_worker`` also an ``LLMWorker`` on ``llm`` named
    ``<origin>@<hostname>`` (stable across restarts), on a blocking connection of its own
    that the scheduler opens and closes. In-flight calls to ``llm`` are bounded by
    ``min(ollama.parallel_slots, scheduler.max_concurrency)``, shared by the worker and the
    in-process fallback.

    Args:
        config: llm_node's configuration (``scheduler``, ``ollama``, ``redis``).
        llm: the ``OllamaChat`` or ``OpenAIChat`` of ``make_llm``.
        redis: the commands client of ``make_redis_clients`` (not closed here); None for
            the in-process scheduler only.
        blocking_redis: its blocking client (not closed here).
        on_orphan: ``(request, result, error)``, sync or async: outcomes of requests this
            origin submitted before a restart (``redis_orphans`` docstring).
        origin: name of this submitter, unique and stable (the node name).
        redis_factory: builds the in-node worker's own blocking client (``make_redis``).
    """
    s, r = config.scheduler, config.redis
    slots = SlotLimiter(min(config.ollama.parallel_slots, s.max_concurrency))
    inprocess = InProcessScheduler(llm, slots=slots, queue_size=s.queue_size)
    if s.backend == 'memory' or redis is None:
        return inprocess

    def redis_scheduler() -> RedisScheduler:
        return RedisScheduler(redis, blocking_redis, llm, origin=origin,
                              queue_size=s.queue_size, prefix=r.key_prefix,
                              on_orphan=on_orphan, block_s=BLOCK_S,
                              retry_interval_s=r.retry_interval_s, stall_s=s.redis_stall_s)

    workers, clients = [], []
    if s.in_node_worker:
        worker_blocking = redis_factory(
            r.url, socket_timeout_s=r.socket_timeout_s, connect_timeout_s=r.connect_timeout_s,
            for_blocking_reads=True, block_s=BLOCK_S)
        clients.append(worker_blocking)
        consumer = origin if '@' in origin else '%s@%s' % (origin, socket.gethostname())
        workers.append(LLMWorker(
            redis, worker_blocking, llm, consumer, claim_idle_s=s.claim_idle_s,
            prefix=r.key_prefix, block_s=BLOCK_S, slots=slots,
            retry_interval_s=min(r.retry_interval_s, 1.0)))
    log.debug('scheduler: redis streams at %s, origin %s', safe_url(r.url), origin)
    return FailoverScheduler(redis_scheduler, inprocess, workers=workers, clients=clients,
                             stall_s=s.redis_stall_s)


def make_worker(config: Config, llm: Any, redis: Any, blocking_redis: Any,
                name: str) -> LLMWorker:
    """A ``claudia-llm worker``'s ``LLMWorker``: ``ollama.parallel_slots`` requests in flight.

    Args:
        config: llm_node's configuration (``ollama``, ``redis.key_prefix``, ``scheduler``).
        llm: the ``OllamaChat`` or ``OpenAIChat`` of ``make_llm``.
        redis: the commands client of ``make_redis_clients`` (not closed here).
        blocking_redis: its blocking client, used only by this worker (not closed here).
        name: consumer name, unique among workers.
    """
    return LLMWorker(redis, blocking_redis, llm, name,
                     max_in_flight=config.ollama.parallel_slots,
                     claim_idle_s=config.scheduler.claim_idle_s,
                     prefix=config.redis.key_prefix, block_s=BLOCK_S)


def _path(value: str) -> Optional[Path]:
    return Path(value) if value else None
