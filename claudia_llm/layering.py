"""The package's import rules, checked with plain ``ast`` (no import is executed).

Rooms, lowest first: the shared core modules (records, errors, settings, latency, ...),
``core.safety``, ``core.understanding``, then ``core.cache``, ``core.llm`` and
``core.execution`` side by side, then ``core.pipeline``, ``core.build`` (the one place that
constructs clients) and ``core.app``, then ``testing``, then ``http`` (the FastAPI app of
http_bridge), then ``ros``, then the command line (``cli``, ``worker_main``). A module may
import its own room or a lower one; the side-by-side rooms may not import each other;
nothing in ``core`` imports ``ros``, ``cli`` or ``testing``; and the import graph between
modules has no cycle.
"""
import ast
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

RANKS = (  # (module prefix, rank); the longest matching prefix wins
    ('claudia_llm.core', 0),
    ('claudia_llm.core.safety', 1),
    ('claudia_llm.core.understanding', 2),
    ('claudia_llm.core.cache', 3),
    ('claudia_llm.core.llm', 3),
    ('claudia_llm.core.execution', 3),
    ('claudia_llm.core.pipeline', 4),
    ('claudia_llm.core.build', 5),
    ('claudia_llm.core.app', 6),
    ('claudia_llm.testing', 7),
    ('claudia_llm.http', 8),
    ('claudia_llm.ros', 9),
    ('claudia_llm', 10),
    ('claudia_llm.layering', 0),
)


def room(module: str) -> Tuple[str, int]:
    """Return ``(room prefix, rank)`` of a dotted module name inside ``claudia_llm``."""
    best = ('', -1)
    for prefix, rank in RANKS:
        if (module == prefix or module.startswith(prefix + '.')) and len(prefix) > len(best[0]):
            best = (prefix, rank)
    return best


def module_name(root: Path, path: Path) -> Tuple[str, bool]:
    """Dotted name of ``path`` below ``root`` (the folder holding ``claudia_llm``)."""
    parts = list(path.relative_to(root).with_suffix('').parts)
    if parts[-1] == '__init__':
        return '.'.join(parts[:-1]), True
    return '.'.join(parts), False


def imports_of(root: Path, path: Path) -> Iterator[Tuple[str, int]]:
    """Yield ``(imported claudia_llm module, line)`` for every import in ``path``.

    ``from pkg import name`` yields ``pkg.name`` when that is a module file, else ``pkg``.
    Imports inside functions count too: a lazy import is still a dependency.
    """
    mod, is_pkg = module_name(root, path)
    tree = ast.parse(path.read_text(encoding='utf-8'), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split('.')[0] == 'claudia_llm':
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = mod.split('.') if is_pkg else mod.split('.')[:-1]
                base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
                target = '.'.join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ''
            if target.split('.')[0] != 'claudia_llm':
                continue
            for alias in node.names:
                sub = target + '.' + alias.name
                rel = Path(*sub.split('.'))
                if (root / rel).with_suffix('.py').is_file() or (root / rel / '__init__.py'
                                                                 ).is_file():
                    yield sub, node.lineno
                else:
                    yield target, node.lineno


def violations(root: Path) -> List[str]:
    """Every broken rule under ``root / 'claudia_llm'``, one readable line each."""
    graph: Dict[str, Set[str]] = {}
    found = []
    for path in sorted((root / 'claudia_llm').rglob('*.py')):
        mod, _ = module_name(root, path)
        src_room, src_rank = room(mod)
        graph.setdefault(mod, set())
        for target, line in imports_of(root, path):
            graph[mod].add(target)
            dst_room, dst_rank = room(target)
            where = '%s:%d imports %s' % (path.relative_to(root), line, target)
            if dst_rank > src_rank:
                found.append('%s (a higher room: %s)' % (where, dst_room))
            elif dst_rank == src_rank and dst_room != src_room and not (
                    mod.startswith(dst_room + '.')):
                found.append('%s (a sibling room: %s)' % (where, dst_room))
    found = list(dict.fromkeys(found))  # one line per import statement and target
    found.extend('import cycle: %s' % ' -> '.join(c) for c in _cycles(graph))
    return found


def _cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """One cycle per strongly connected group of modules (Tarjan), as a path."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    groups = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in graph:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group) + [sorted(group)[0]])

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups
