"""Builds the whole llm_node engine from the flat parameter dict of ``core.settings``.

``Engine`` owns every client (Ollama, Redis, embedder) and the pipeline; the ROS node
and the CLI only call ``start``, ``pipeline.handle`` and ``aclose``.
"""
import asyncio
import logging
import socket
from pathlib import Path
from typing import Any, Dict, Optional

from claudia_llm.core.cache.exact import ExactCache
from claudia_llm.core.cache.store import FailoverStore
from claudia_llm.core.llm.ollama import OllamaChat
from claudia_llm.core.llm.prompt import PromptProfile
from claudia_llm.core.llm.scheduler import make_scheduler
from claudia_llm.core.safety.actions import ActionRegistry
from claudia_llm.core.safety.policy import SafetyPolicy
from claudia_llm.core.safety.robot_state import RobotState
from claudia_llm.core.understanding.lexicon import Lexicon

from .errors import ConfigError
from .pipeline import Pipeline, Publish
from .redis_conn import make_redis

log = logging.getLogger(__name__)


class Engine:
    """Every part of llm_node's brain, wired from ``settings`` (see ``core.settings``).

    Args:
        settings: ``{parameter name: value}`` for 'llm_node'.
        publish: called with each ``ResponseRecord`` (from the event loop thread).
        robot_state: shared with the ROS layer, which feeds it live posture and battery.
        origin: this node's name; with the host name it names its Redis results stream.
    """

    def __init__(self, settings: Dict[str, Any], publish: Publish,
                 robot_state: Optional[RobotState] = None, origin: str = 'llm_node'):
        s = self.settings = settings
        self.registry = ActionRegistry.load(_path(s['safety.actions_path']))
        self.profile = PromptProfile(self.registry, max_actions=s['safety.max_actions'])
        self.llm = OllamaChat(
            s['ollama.host'], s['ollama.model'], self.profile,
            keep_alive=s['ollama.keep_alive'], timeout_s=s['ollama.timeout_s'],
            connect_timeout_s=s['ollama.connect_timeout_s'],
            options={'temperature': s['ollama.temperature'], 'seed': s['ollama.seed'],
                     'num_predict': s['ollama.num_predict'], 'num_ctx': s['ollama.num_ctx']})
        redis_kw = dict(socket_timeout_s=s['redis.socket_timeout_s'],
                        connect_timeout_s=s['redis.connect_timeout_s'])
        self.redis = make_redis(s['redis.url'], **redis_kw)
        self.blocking_redis = make_redis(s['redis.url'], for_blocking_reads=True, block_s=1.0,
                                         **redis_kw)
        self.store = FailoverStore(self.redis, retry_interval_s=s['redis.retry_interval_s'])
        prefix = s['redis.key_prefix']
        self.exact = ExactCache(self.store, s['ollama.model'], self.profile.version,
                                ttl_s=s['cache.exact_ttl_s'], key_prefix=prefix)
        self.semantic = self._make_semantic(prefix) if s['cache.semantic_enabled'] else None
        self.lexicon = Lexicon.load(_path(s['cache.lexicon_path']), self.registry)
        self.robot_state = robot_state or RobotState(
            initial_posture=s['safety.initial_posture'],
            battery_percent=_battery(s['safety.battery_percent']))
        self.policy = SafetyPolicy(self.registry, allow_high_risk=s['safety.allow_high_risk'],
                                   max_actions=s['safety.max_actions'],
                                   cooldown_s=s['safety.cooldown_s'])
        # The origin names this node's results stream: stable across restarts (so a
        # restarted node finds its orphans) and distinct between robots on one Redis.
        self.scheduler = make_scheduler(s, self.llm, self.redis, self.blocking_redis,
                                        on_orphan=self._on_orphan,
                                        origin='%s@%s' % (origin, socket.gethostname()))
        self.pipeline = Pipeline(
            registry=self.registry, policy=self.policy, robot_state=self.robot_state,
            exact=self.exact, semantic=self.semantic, scheduler=self.scheduler,
            publish=publish, model=s['ollama.model'], max_chars=s['input.max_chars'],
            max_bytes=s['input.max_bytes'], deadline_s=s['scheduler.deadline_s'])
        self._tasks = []

    def _make_semantic(self, prefix: str):
        """The semantic cache, or None (tier off, logged) when its embedder cannot load.

        An unknown ``cache.embedder`` is a configuration mistake and raises ConfigError; a
        model that fails to load (missing package, unreadable files) leaves the node up
        without the semantic tier, so emergency words, exact hits and the LLM still work.
        """
        from claudia_llm.core.cache.embedder import KINDS, make_embedder
        from claudia_llm.core.cache.semantic import SemanticCache
        s = self.settings
        if s['cache.embedder'] not in KINDS:
            raise ConfigError('cache.embedder must be one of %s, got %r'
                              % (KINDS, s['cache.embedder']))
        try:
            embedder = make_embedder(s['cache.embedder'], s['cache.embedder_model'])
        except ConfigError as exc:
            log.error('semantic cache tier OFF: %s', exc)
            return None
        return SemanticCache(self.store, embedder, self.profile.version,
                             threshold=s['cache.semantic_threshold'],
                             ttl_s=s['cache.semantic_ttl_s'], key_prefix=prefix,
                             registry=self.registry)

    async def start(self) -> None:
        """Seed the caches with the lexicon, start the scheduler, warm the model up.

        Never fails because Redis or Ollama is down: the node starts degraded and says so.
        """
        if not await self.store.ping():
            log.warning('Redis not reachable at %s: caches run in memory until it is back',
                        self.settings['redis.url'])
        count = 0
        for key, answer, _entry in self.lexicon.answers():
            await self.exact.store_answer(key, answer, source='lexicon')
            count += 1
        if self.semantic is not None:
            await self.semantic.load()
            await self.semantic.seed_lexicon(self.lexicon)
        log.info('lexicon: %d command phrasings loaded into the cache', count)
        await self.scheduler.start()
        if self.settings['ollama.warmup']:
            self._tasks.append(asyncio.ensure_future(self._warmup()))

    async def _warmup(self) -> None:
        try:
            await self.llm.warmup()
            log.info('Ollama model %s loaded (keep_alive %s)', self.settings['ollama.model'],
                     self.settings['ollama.keep_alive'])
        except Exception as exc:  # noqa: BLE001 - degraded start: log and go on
            log.warning('Ollama warm-up failed (%s: %s); LLM answers unavailable until it '
                        'responds', type(exc).__name__, exc)

    async def _on_orphan(self, request, result, error) -> None:
        await self.pipeline.handle_orphan(request, result, error)

    async def aclose(self) -> None:
        """Stop the scheduler and close every client this engine opened."""
        for task in self._tasks:
            task.cancel()
        await self.scheduler.aclose()
        if self.semantic is not None:
            await self.semantic.aclose()
        await self.llm.aclose()
        for client in (self.redis, self.blocking_redis):
            try:
                await client.aclose()
            except AttributeError:  # redis-py < 5 on Python 3.8 robots
                await client.close()


def _path(value: str) -> Optional[Path]:
    return Path(value) if value else None


def _battery(value: float) -> Optional[float]:
    return value if value >= 0 else None
