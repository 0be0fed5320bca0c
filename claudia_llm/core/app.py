"""The llm_node engine: every part of the brain, built by ``core.build`` from a ``Config``.

``Engine`` owns every client (Ollama, Redis, embedder) and the pipeline; the ROS node
and the CLI only call ``start``, ``pipeline.handle``, ``apply``, ``drain`` and ``aclose``.
"""
import asyncio
import logging
import socket
from typing import Any, Mapping, Optional, Union

from claudia_llm.core.safety.policy import SafetyPolicy
from claudia_llm.core.safety.robot_state import RobotState

from . import build, shutdown
from .config import Config, config_from
from .health import safe_url
from .pipeline import Pipeline, Publish
from .reply_stream import PublishPiece

log = logging.getLogger(__name__)


class Engine:
    """Every part of llm_node's brain, wired from ``config`` (see ``core.config``).

    Args:
        config: llm_node's ``Config``, or ``{dotted name: value}`` checked into one.
        publish: called with each ``ResponseRecord`` (from the event loop thread).
        robot_state: shared with the ROS layer, which feeds it live posture and battery.
        origin: this node's name; with the host name it names its Redis results stream.
        publish_actions: called with a record as soon as its actions passed the policy
            (``Pipeline``); None: actions go out with the record.
        publish_piece: called with each ``ReplyPiece`` (``/claudia/reply_partial``).

    Raises:
        ConfigError: a bad value, or an action table or lexicon that cannot be read.
    """

    def __init__(self, config: Union[Config, Mapping[str, Any]], publish: Publish,
                 robot_state: Optional[RobotState] = None, origin: str = 'llm_node',
                 publish_actions: Optional[Publish] = None,
                 publish_piece: Optional[PublishPiece] = None):
        c = self.config = config if isinstance(config, Config) else config_from(config)
        self.registry = build.action_registry(c)
        self.profile = build.prompt_profile(c, self.registry)
        self.llm = build.make_llm(c, self.profile)
        self.redis, self.blocking_redis = build.make_redis_clients(c)
        self.store = build.make_store(c, self.redis)
        self.exact = build.make_exact(c, self.store, self.profile)
        self.semantic = build.make_semantic(c, self.store, self.profile, self.registry)
        self.lexicon = build.make_lexicon(c, self.registry)
        self.robot_state = robot_state or RobotState(
            initial_posture=c.safety.initial_posture,
            battery_percent=_battery(c.safety.battery_percent))
        self.policy = SafetyPolicy(self.registry, allow_high_risk=c.safety.allow_high_risk,
                                   max_actions=c.safety.max_actions,
                                   cooldown_s=c.safety.cooldown_s,
                                   stale_after_s=c.safety.stale_after_s)
        # The origin names this node's results stream: stable across restarts (so a
        # restarted node finds its orphans) and distinct between robots on one Redis.
        self.scheduler = build.make_scheduler(c, self.llm, self.redis, self.blocking_redis,
                                              on_orphan=self._on_orphan,
                                              origin='%s@%s' % (origin, socket.gethostname()))
        self.pipeline = Pipeline(
            registry=self.registry, policy=self.policy, robot_state=self.robot_state,
            exact=self.exact, semantic=self.semantic, scheduler=self.scheduler,
            publish=publish, model=c.ollama.model, max_chars=c.input.max_chars,
            max_bytes=c.input.max_bytes, deadline_s=c.scheduler.deadline_s,
            spellings=self.lexicon.spellings(), publish_actions=publish_actions,
            publish_piece=publish_piece, stream_actions=c.llm.stream_actions)
        self._tasks = []

    def apply(self, config: Config) -> None:
        """Apply the live parameters (``settings.live_names``) of ``config`` to the parts.

        Only those names may differ from the running configuration; the caller (llm_node's
        on-set-parameters callback) has refused the others. Runs on the engine's loop.
        """
        c = self.config = config
        self.exact.ttl_s = c.cache.exact_ttl_s
        if self.semantic is not None:
            self.semantic.threshold = c.cache.semantic_threshold
            self.semantic.chat_threshold = c.cache.semantic_threshold_chat
            self.semantic.ttl_s = c.cache.semantic_ttl_s
        self.policy.allow_high_risk = c.safety.allow_high_risk
        self.policy.cooldown_s = c.safety.cooldown_s
        self.policy.stale_after_s = c.safety.stale_after_s
        self.pipeline.max_chars, self.pipeline.max_bytes = c.input.max_chars, c.input.max_bytes
        self.pipeline.deadline_s = c.scheduler.deadline_s
        log.info('live parameters applied: semantic threshold %.3f (chat %.3f), exact TTL %d s, '
                 'semantic TTL %d s, high risk %s, cooldown %.1f s, deadline %.1f s',
                 c.cache.semantic_threshold, c.cache.semantic_threshold_chat,
                 c.cache.exact_ttl_s, c.cache.semantic_ttl_s,
                 c.safety.allow_high_risk, c.safety.cooldown_s, c.scheduler.deadline_s)

    async def start(self) -> None:
        """Seed the caches with the lexicon, start the scheduler, warm the model up.

        Never fails because Redis or Ollama is down: the node starts degraded and says so.
        """
        if not await self.store.ping():
            log.warning('Redis not reachable at %s: caches run in memory until it is back',
                        safe_url(self.config.redis.url))
        count = 0
        for key, answer, _entry in self.lexicon.answers():
            await self.exact.store_answer(key, answer, source='lexicon')
            count += 1
        if self.semantic is not None:
            await self.semantic.load()
            await self.semantic.seed_lexicon(self.lexicon)
        log.info('lexicon: %d command phrasings loaded into the cache', count)
        await self.scheduler.start()
        if self.config.ollama.warmup:
            self._tasks.append(asyncio.ensure_future(self._warmup()))

    async def _warmup(self) -> None:
        try:
            await self.llm.warmup()
            log.info('%s model %s warm at %s', self.config.llm.backend,
                     self.config.ollama.model, self.config.llm_server()[0])
        except Exception as exc:  # noqa: BLE001 - degraded start: log and go on
            log.warning('%s warm-up failed (%s: %s); LLM answers unavailable until it '
                        'responds', self.config.llm.backend, type(exc).__name__, exc)

    async def _on_orphan(self, request, result, error) -> None:
        await self.pipeline.handle_orphan(request, result, error)

    async def drain(self, grace_s: Optional[float] = None) -> 'shutdown.DrainReport':
        """Graceful stop: answers in flight get ``grace_s`` to publish (``core.shutdown``).

        What is still open then is handed over to the Redis queue for the next node, or
        answered ``shutting_down``. Call after the node stopped taking utterances and
        before ``aclose``.

        Args:
            grace_s: the grace period, s; None = ``scheduler.shutdown_grace_s``.
        """
        grace = self.config.scheduler.shutdown_grace_s if grace_s is None else grace_s
        return await shutdown.drain(self.pipeline, self.scheduler, grace)

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


def _battery(value: float) -> Optional[float]:
    return value if value >= 0 else None
