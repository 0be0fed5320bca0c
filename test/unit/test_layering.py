"""Import direction: the real tree keeps the rules, and the checker catches each kind of break.

The checker (``claudia_llm.layering``) reads files with ``ast``; the temporary trees here are
small ``claudia_llm`` packages written to ``tmp_path`` with one import added each.
"""
from pathlib import Path

import pytest

from claudia_llm import layering

ROOT = Path(__file__).resolve().parents[2]


def test_the_real_tree_keeps_the_import_rules():
    assert (ROOT / 'claudia_llm' / 'layering.py').is_file()
    assert layering.violations(ROOT) == []


def write_tree(root: Path, files):
    """Write ``{dotted module: source}`` as files under ``root``, with ``__init__`` files."""
    for mod, source in files.items():
        parts = mod.split('.')
        for i in range(1, len(parts)):
            init = root.joinpath(*parts[:i], '__init__.py')
            init.parent.mkdir(parents=True, exist_ok=True)
            if not init.exists():
                init.write_text('', encoding='utf-8')
        root.joinpath(*parts[:-1], parts[-1] + '.py').write_text(source, encoding='utf-8')


BASE = {
    'claudia_llm.core.record': '"""Records."""\n',
    'claudia_llm.core.safety.policy': 'from claudia_llm.core import record\n',
    'claudia_llm.core.understanding.guards': 'from claudia_llm.core.safety import policy\n',
    'claudia_llm.core.cache.store': 'from ..understanding import guards\n',
    'claudia_llm.core.llm.ollama': 'import claudia_llm.core.record\n',
    'claudia_llm.core.pipeline': ('from claudia_llm.core.cache import store\n'
                                  'from claudia_llm.core.llm import ollama\n'),
    'claudia_llm.ros.llm_node': 'from claudia_llm.core import pipeline\n',
    'claudia_llm.cli': 'def main():\n    from claudia_llm.ros import llm_node\n',
}


def test_a_tree_that_keeps_the_rules_has_no_violations(tmp_path):
    write_tree(tmp_path, BASE)
    assert layering.violations(tmp_path) == []


@pytest.mark.parametrize('mod, source, expected', [
    ('claudia_llm.core.safety.policy', 'from claudia_llm.core.understanding import guards\n',
     'claudia_llm/core/safety/policy.py:1 imports claudia_llm.core.understanding.guards '
     '(a higher room: claudia_llm.core.understanding)'),
    ('claudia_llm.core.cache.store', 'from claudia_llm.core.llm import ollama\n',
     'claudia_llm/core/cache/store.py:1 imports claudia_llm.core.llm.ollama '
     '(a sibling room: claudia_llm.core.llm)'),
    ('claudia_llm.core.pipeline', 'def f():\n    import claudia_llm.ros.llm_node\n',
     'claudia_llm/core/pipeline.py:2 imports claudia_llm.ros.llm_node '
     '(a higher room: claudia_llm.ros)'),
    ('claudia_llm.core.record', 'from . import pipeline\n',
     'claudia_llm/core/record.py:1 imports claudia_llm.core.pipeline '
     '(a higher room: claudia_llm.core.pipeline)'),
], ids=['wrong-way', 'sibling', 'core-imports-ros', 'relative-wrong-way'])
def test_each_broken_rule_is_reported(tmp_path, mod, source, expected):
    files = dict(BASE)
    files[mod] = source + files[mod]  # first, so the line numbers are known
    write_tree(tmp_path, files)
    found = layering.violations(tmp_path)
    assert expected in found, found


def test_an_import_cycle_in_one_room_is_reported(tmp_path):
    files = dict(BASE, **{
        'claudia_llm.worker_main': 'from claudia_llm import cli\n',
        'claudia_llm.cli': BASE['claudia_llm.cli'] + 'from claudia_llm import worker_main\n',
    })
    write_tree(tmp_path, files)
    assert layering.violations(tmp_path) == [
        'import cycle: claudia_llm.cli -> claudia_llm.worker_main -> claudia_llm.cli']


def test_the_longest_prefix_names_the_room():
    assert layering.room('claudia_llm.core.cache.e5.tokenizer') == ('claudia_llm.core.cache', 3)
    assert layering.room('claudia_llm.core.errors') == ('claudia_llm.core', 0)
    assert layering.room('claudia_llm.layering') == ('claudia_llm.layering', 0)
    assert layering.room('claudia_llm.worker_main') == ('claudia_llm', 10)
    assert layering.room('claudia_llm.http.app') == ('claudia_llm.http', 8)


def test_a_wrong_way_import_added_to_a_copy_of_the_real_tree_fails(tmp_path):
    import shutil
    shutil.copytree(ROOT / 'claudia_llm', tmp_path / 'claudia_llm',
                    ignore=shutil.ignore_patterns('__pycache__'))
    record = tmp_path / 'claudia_llm' / 'core' / 'record.py'
    record.write_text('from claudia_llm.ros import llm_node  # noqa\n'
                      + record.read_text(encoding='utf-8'), encoding='utf-8')
    found = layering.violations(tmp_path)
    assert found[0] == ('claudia_llm/core/record.py:1 imports claudia_llm.ros.llm_node '
                        '(a higher room: claudia_llm.ros)')
    assert [line for line in found[1:] if not line.startswith('import cycle:')] == []
