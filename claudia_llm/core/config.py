"""Typed, frozen configuration: one dataclass per parameter prefix, built once per node.

``config_from(values, node)`` checks every ``{dotted name: value}`` with ``settings.check``
(the one set of bounds) and returns a ``Config`` whose groups are read as attributes
(``config.cache.semantic_threshold``), so a misspelt name fails when the module loads
in a test, not at run time. Field names are the parameter names without their prefix;
``test_config`` checks that every row of the settings table has exactly one field and
every field a row. A value changed at run time gives a new ``Config`` (``with_changes``).
"""
from dataclasses import dataclass, fields, replace
from typing import Any, Dict, Mapping, Optional, Tuple

from . import settings


@dataclass(frozen=True)
class OllamaConfig:
    """``ollama.*``: the Ollama host, model, pinned options and timeouts (s)."""

    host: str  # resolved: parameter > OLLAMA_HOST > default (see Config.ollama_host_source)
    model: str
    keep_alive: str
    timeout_s: float
    connect_timeout_s: float
    num_predict: int
    num_ctx: int
    temperature: float
    seed: int
    warmup: bool
    parallel_slots: int

    def options(self) -> Dict[str, Any]:
        """The Ollama ``options`` sent with every request (pinned: same answers, no reload)."""
        return {'temperature': self.temperature, 'seed': self.seed,
                'num_predict': self.num_predict, 'num_ctx': self.num_ctx}

    def openai_options(self) -> Dict[str, Any]:
        """The same pinned sampling as OpenAI request fields (``llm.backend`` openai)."""
        return {'temperature': self.temperature, 'seed': self.seed,
                'max_tokens': self.num_predict}


@dataclass(frozen=True)
class LLMConfig:
    """``llm.*``: which server protocol the LLM tier speaks, and how answers are used.

    ``ollama.model``, the timeouts and the sampling options apply to both backends;
    ``ollama.keep_alive`` and ``ollama.num_ctx`` to Ollama only (an OpenAI-compatible
    server sets them when it starts, e.g. ``llama-server -c``). ``stream_actions``: streamed
    answers (actions published when their list closes, the reply in pieces) or whole ones.
    """

    backend: str
    base_url: str  # resolved: parameter > OPENAI_BASE_URL > default (Config.base_url_source)
    api_key: str  # resolved: parameter > OPENAI_API_KEY > a dummy (Config.api_key_source)
    stream_actions: bool


@dataclass(frozen=True)
class RedisConfig:
    """``redis.*``: URL, timeouts (s) and key prefix."""

    url: str
    socket_timeout_s: float
    connect_timeout_s: float
    key_prefix: str
    retry_interval_s: float
    budget_ms: float


@dataclass(frozen=True)
class TopicsConfig:
    """``topics.*``: topic names (relative ones resolve in the node's namespace)."""

    response: str
    utterance: str
    reply: str
    action: str
    sport_request: str
    sport_response: str
    execution: str
    sim_events: str
    reply_partial: str


@dataclass(frozen=True)
class QoSConfig:
    """``qos.*``: history depths (messages) and the utterance reliability."""

    response_depth: int
    utterance_depth: int
    utterance_reliability: str


@dataclass(frozen=True)
class DiagnosticsConfig:
    """``diagnostics.*``: publishing period and window (s), thresholds, probes, Prometheus."""

    period_s: float
    window_s: float
    p95_warn_ms: float
    health_timeout_s: float
    prometheus_port: int


@dataclass(frozen=True)
class InputConfig:
    """``input.*``: size bounds of one utterance."""

    max_chars: int
    max_bytes: int


@dataclass(frozen=True)
class CacheConfig:
    """``cache.*``: exact and semantic tiers (TTLs in s, cosine threshold), embedder, lexicon."""

    exact_ttl_s: int
    negative_ttl_s: float
    semantic_enabled: bool
    semantic_threshold: float
    semantic_threshold_chat: float
    semantic_ttl_s: int
    embedder: str
    embedder_model: str
    lexicon_path: str


@dataclass(frozen=True)
class SchedulerConfig:
    """``scheduler.*``: queue backend, bounds, deadline and reclaim time (s)."""

    backend: str
    max_concurrency: int
    queue_size: int
    deadline_s: float
    in_node_worker: bool
    claim_idle_s: float
    redis_stall_s: float
    shutdown_grace_s: float


@dataclass(frozen=True)
class SafetyConfig:
    """``safety.*``: action table, high-risk switch, limits and assumed robot state."""

    actions_path: str
    allow_high_risk: bool
    max_actions: int
    cooldown_s: float
    stale_after_s: float
    battery_percent: float
    initial_posture: str


@dataclass(frozen=True)
class RobotConfig:
    """``robot.*``: the Go2's sport request switch and state topics (absolute: the robot's)."""

    publish_sport_request: bool
    sport_state_topic: str
    low_state_topic: str


@dataclass(frozen=True)
class ExecutionConfig:
    """``execution.*``: how the executor paces actions (``core.execution.executor``)."""

    mode: str
    resend_hz: float
    timeout_margin_s: float


@dataclass(frozen=True)
class SimConfig:
    """``sim.*``: the go2_simulator node's model (``testing.go2_sim``)."""

    transition_s: float
    trick_s: float
    move_timeout_s: float
    state_hz: float
    low_state_hz: float
    posture_mode: int
    battery_percent: int
    fail_api_ids: str


@dataclass(frozen=True)
class HTTPConfig:
    """``http.*``: the HTTP bridge's address, bearer token and time budgets (s)."""

    host: str
    port: int
    token: str
    request_timeout_s: float
    stats_period_s: float
    history_s: float
    recent_records: int
    event_queue_size: int


GROUPS = {'ollama': OllamaConfig, 'llm': LLMConfig, 'redis': RedisConfig,
          'topics': TopicsConfig, 'qos': QoSConfig, 'diagnostics': DiagnosticsConfig,
          'input': InputConfig, 'cache': CacheConfig, 'scheduler': SchedulerConfig,
          'safety': SafetyConfig, 'robot': RobotConfig, 'http': HTTPConfig,
          'execution': ExecutionConfig, 'sim': SimConfig}
"""``{prefix: dataclass}``; a new prefix in the settings table needs a group here."""


@dataclass(frozen=True)
class Config:
    """Every parameter of one node as typed groups (see the module docstring).

    Names the node does not declare (e.g. ``cache.*`` for diagnostics_node) hold the
    other node's defaults. ``ollama_host_source``, ``base_url_source`` and
    ``api_key_source`` say where ``ollama.host``, ``llm.base_url`` and ``llm.api_key``
    came from.
    """

    node: str
    ollama: OllamaConfig
    llm: LLMConfig
    redis: RedisConfig
    topics: TopicsConfig
    qos: QoSConfig
    diagnostics: DiagnosticsConfig
    input: InputConfig
    cache: CacheConfig
    scheduler: SchedulerConfig
    safety: SafetyConfig
    robot: RobotConfig
    http: HTTPConfig
    execution: ExecutionConfig
    sim: SimConfig
    ollama_host_source: str = 'parameter ollama.host'
    base_url_source: str = 'parameter llm.base_url'
    api_key_source: str = 'parameter llm.api_key'

    def llm_server(self) -> Tuple[str, str]:
        """``(URL, where it came from)`` of the server ``llm.backend`` talks to (for logs)."""
        if self.llm.backend == 'openai':
            return self.llm.base_url, self.base_url_source
        return self.ollama.host, self.ollama_host_source

    def value(self, name: str) -> Any:
        """The value of one dotted parameter name, e.g. ``'cache.semantic_threshold'``."""
        group, _, field = name.partition('.')
        return getattr(getattr(self, group), field)

    def as_values(self) -> Dict[str, Any]:
        """``{dotted name: value}`` of this node's declared parameters."""
        return {name: self.value(name) for name in settings.NODES[self.node]}

    def with_changes(self, changes: Mapping[str, Any]) -> 'Config':
        """A copy with ``{dotted name: value}`` applied, each checked by ``settings.check``.

        Raises:
            ConfigError: unknown name or a value outside its bounds.
        """
        groups = {}
        for name, value in changes.items():
            checked = settings.check(self.node, name, value)
            group, _, field = name.partition('.')
            groups.setdefault(group, {})[field] = checked
        return replace(self, **{g: replace(getattr(self, g), **f) for g, f in groups.items()})


def config_from(values: Mapping[str, Any], node: str = 'llm_node',
                environ: Optional[Mapping[str, str]] = None) -> Config:
    """Check ``values`` (``{dotted name: value}``, missing names take defaults) once.

    ``ollama.host`` '' resolves to ``OLLAMA_HOST`` from ``environ`` (default
    ``os.environ``), else Ollama's default (``settings.ollama_host``); ``llm.base_url``
    and ``llm.api_key`` to ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` the same way.

    Raises:
        ConfigError: unknown name for ``node``, wrong type, or a value outside its bounds.
    """
    merged = {}
    for table in reversed(list(settings.NODES.values())):  # this node's defaults win below
        merged.update({name: p.default for name, p in table.items()})
    merged.update(settings.defaults(node))
    for name, value in values.items():
        merged[name] = settings.check(node, name, value)
    merged['ollama.host'], source = settings.ollama_host(merged['ollama.host'], environ)
    merged['llm.base_url'], url_source = settings.openai_base_url(merged['llm.base_url'],
                                                                  environ)
    merged['llm.api_key'], key_source = settings.openai_api_key(merged['llm.api_key'],
                                                                environ)
    by_group = {prefix: {} for prefix in GROUPS}
    for name, value in merged.items():
        group, _, field = name.partition('.')
        by_group[group][field] = value
    return Config(node=node, ollama_host_source=source, base_url_source=url_source,
                  api_key_source=key_source,
                  **{prefix: cls(**by_group[prefix]) for prefix, cls in GROUPS.items()})


def field_names() -> Dict[str, str]:
    """``{dotted name: group class name}`` of every configuration field (for tests)."""
    return {'%s.%s' % (prefix, f.name): cls.__name__
            for prefix, cls in GROUPS.items() for f in fields(cls)}
