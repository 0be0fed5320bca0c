"""core.config: every settings row is one typed field, values are checked once, frozen."""
import dataclasses
import typing

import pytest

from claudia_llm.core import config, settings
from claudia_llm.core.errors import ConfigError

ROWS = sorted({name for table in settings.NODES.values() for name in table})


def test_every_settings_row_maps_to_exactly_one_field():
    fields = config.field_names()
    missing = [name for name in ROWS if name not in fields]
    assert missing == [], 'add a field to the group dataclass in core/config.py: %s' % missing


def test_every_field_maps_to_a_settings_row():
    extra = sorted(set(config.field_names()) - set(ROWS))
    assert extra == [], 'no settings row for: %s' % extra


def test_every_prefix_has_a_group_and_the_field_type_is_the_default_type():
    for name in ROWS:
        group, _, field = name.partition('.')
        cls = config.GROUPS[group]
        hint = typing.get_type_hints(cls)[field]
        for table in settings.NODES.values():
            if name in table:
                assert type(table[name].default) is hint, name


@pytest.mark.parametrize('node', sorted(settings.NODES))
def test_defaults_build_a_config_that_gives_the_values_back(node):
    cfg = config.config_from({}, node, environ={})
    values = cfg.as_values()
    expected = settings.defaults(node)
    if 'ollama.host' in expected:  # go2_simulator and http_bridge declare no ollama.*
        expected['ollama.host'] = settings.DEFAULT_OLLAMA_HOST
        expected['llm.base_url'] = settings.DEFAULT_OPENAI_BASE_URL
        expected['llm.api_key'] = settings.DEFAULT_OPENAI_API_KEY
    assert values == expected


def test_groups_are_typed_attributes_and_frozen():
    cfg = config.config_from({'cache.semantic_threshold': 0.9, 'ollama.timeout_s': 3},
                             environ={})
    assert cfg.cache.semantic_threshold == 0.9
    assert cfg.ollama.timeout_s == 3.0 and isinstance(cfg.ollama.timeout_s, float)
    assert cfg.ollama.options() == {'temperature': 0.0, 'seed': 42, 'num_predict': 160,
                                    'num_ctx': 2048}
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.cache.semantic_threshold = 0.5


@pytest.mark.parametrize('values, match', [
    ({'cache.semantic_threshold': 1.5}, r'semantic_threshold must be in \['),
    ({'scheduler.backend': 'kafka'}, 'scheduler.backend must be one of'),
    ({'cache.embedder': 'bogus'}, 'cache.embedder must be one of'),
    ({'cache.semantic_treshold': 0.9}, "has no parameter 'cache.semantic_treshold'"),
    ({'ollama.warmup': 'yes'}, 'ollama.warmup must be bool'),
])
def test_bad_values_are_refused_once_with_the_name(values, match):
    with pytest.raises(ConfigError, match=match):
        config.config_from(values)


def test_a_diagnostics_parameter_is_unknown_to_llm_node():
    with pytest.raises(ConfigError, match='llm_node has no parameter'):
        config.config_from({'diagnostics.window_s': 10.0}, 'llm_node')


def test_with_changes_checks_and_returns_a_new_config():
    cfg = config.config_from({}, environ={})
    changed = cfg.with_changes({'cache.semantic_threshold': 0.9, 'safety.cooldown_s': 0})
    assert (changed.cache.semantic_threshold, changed.safety.cooldown_s) == (0.9, 0.0)
    assert cfg.cache.semantic_threshold == 0.96
    with pytest.raises(ConfigError):
        cfg.with_changes({'cache.semantic_threshold': 2.0})


@pytest.mark.parametrize('param, env, host, source', [
    ('http://param:1', {'OLLAMA_HOST': 'http://env:2'}, 'http://param:1',
     'parameter ollama.host'),
    ('', {'OLLAMA_HOST': 'http://env:2'}, 'http://env:2', 'environment OLLAMA_HOST'),
    ('', {'OLLAMA_HOST': '  '}, settings.DEFAULT_OLLAMA_HOST, 'default'),
    ('', {}, settings.DEFAULT_OLLAMA_HOST, 'default'),
])
def test_ollama_host_is_parameter_then_environment_then_default(param, env, host, source):
    cfg = config.config_from({'ollama.host': param}, environ=env)
    assert (cfg.ollama.host, cfg.ollama_host_source) == (host, source)
    diag = config.config_from({'ollama.host': param}, 'diagnostics_node', environ=env)
    assert (diag.ollama.host, diag.ollama_host_source) == (host, source)


@pytest.mark.parametrize('param, env, url, source', [
    ('http://param:1/v1', {'OPENAI_BASE_URL': 'http://env:2/v1'}, 'http://param:1/v1',
     'parameter llm.base_url'),
    ('', {'OPENAI_BASE_URL': 'http://env:2/v1'}, 'http://env:2/v1',
     'environment OPENAI_BASE_URL'),
    ('', {'OPENAI_BASE_URL': ' '}, settings.DEFAULT_OPENAI_BASE_URL, 'default'),
    ('', {'OLLAMA_HOST': 'http://env:2'}, settings.DEFAULT_OPENAI_BASE_URL, 'default'),
])
def test_openai_base_url_is_parameter_then_environment_then_default(param, env, url, source):
    for node in ('llm_node', 'diagnostics_node'):
        cfg = config.config_from({'llm.backend': 'openai', 'llm.base_url': param}, node,
                                 environ=env)
        assert (cfg.llm.base_url, cfg.base_url_source) == (url, source)
        assert cfg.llm_server() == (url, source)


@pytest.mark.parametrize('param, env, key, source', [
    ('sk-param', {'OPENAI_API_KEY': 'sk-env'}, 'sk-param', 'parameter llm.api_key'),
    ('', {'OPENAI_API_KEY': 'sk-env'}, 'sk-env', 'environment OPENAI_API_KEY'),
    ('', {}, settings.DEFAULT_OPENAI_API_KEY, 'default'),
])
def test_openai_api_key_is_parameter_then_environment_then_a_dummy(param, env, key, source):
    cfg = config.config_from({'llm.api_key': param}, environ=env)
    assert (cfg.llm.api_key, cfg.api_key_source) == (key, source)


def test_the_backend_is_checked_and_picks_the_server_the_logs_name():
    cfg = config.config_from({'ollama.host': 'http://o:1', 'llm.base_url': 'http://v:2/v1'},
                             environ={})
    assert cfg.llm.backend == 'ollama'
    assert cfg.llm_server() == ('http://o:1', 'parameter ollama.host')
    assert cfg.with_changes({'llm.backend': 'openai'}).llm_server() == (
        'http://v:2/v1', 'parameter llm.base_url')
    with pytest.raises(ConfigError, match='llm.backend must be one of'):
        config.config_from({'llm.backend': 'vllm'}, environ={})
    assert cfg.ollama.openai_options() == {'temperature': 0.0, 'seed': 42, 'max_tokens': 160}


def test_the_live_rows_are_the_ones_llm_node_applies():
    assert set(settings.live_names('llm_node')) == {
        'cache.semantic_threshold', 'cache.semantic_threshold_chat', 'cache.exact_ttl_s',
        'cache.semantic_ttl_s',
        'safety.allow_high_risk', 'safety.cooldown_s', 'safety.stale_after_s',
        'scheduler.deadline_s', 'input.max_chars', 'input.max_bytes'}
    assert settings.live_names('diagnostics_node') == ('diagnostics.p95_warn_ms',)
