"""The Go2 action registry, loaded from ``config/go2_actions.yaml``.

The registry is the single source of truth: the LLM's JSON schema, the lexicon's
targets and the safety policy all read it. Names are Unitree SportClient method
names; ids are sport API ids (unitree_sdk2 ``go2/sport/sport_api.h``).
"""
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

import yaml

from claudia_llm.core.errors import ConfigError
from claudia_llm.core.paths import config_dir

POSTURES = ('standing', 'sitting', 'lying', 'unchanged')
# Speeds of distance/angle phrasings (Move; core.understanding.motion.Phrasing): m/s, rad/s, m.
PHRASING_NAMES = frozenset(('walk_mps', 'side_mps', 'turn_radps', 'step_m'))
RISKS = ('safe', 'medium', 'high')


@dataclass(frozen=True)
class ParameterSpec:
    """Bounds of one action parameter (``unit`` is informative: m/s, rad, rad/s)."""

    name: str
    minimum: float
    maximum: float
    default: float
    unit: str = ''

    def clamp(self, value: float) -> float:
        """Return ``value`` limited to ``[minimum, maximum]``."""
        return min(max(value, self.minimum), self.maximum)


@dataclass(frozen=True)
class ActionSpec:
    """One row of the action table.

    The execution fields (see the header of ``go2_actions.yaml``): ``held`` (resent while
    it lasts: Move, Euler), ``expected_s`` (seconds it takes when the robot's state does not
    show its end), ``done_modes`` (``SportModeState.mode`` values meaning it has finished),
    ``progress`` (``SportModeState.progress`` is 1 while it runs) and ``min_s`` (never done
    sooner, seconds). ``phrasing``: ``(name, value)`` speeds at which distance and angle
    phrasings are walked (``Move`` only; ``core.understanding.motion.Phrasing``).
    """

    name: str
    api_id: int
    names: Dict[str, Tuple[str, ...]]
    needs_standing: bool
    posture: str
    risk: str
    from_llm: bool = True
    enabled: bool = True
    parameters: Tuple[ParameterSpec, ...] = field(default_factory=tuple)
    held: bool = False
    expected_s: float = 1.0
    done_modes: Tuple[int, ...] = ()
    progress: bool = False
    min_s: float = 0.0
    phrasing: Tuple[Tuple[str, float], ...] = ()

    def parameter(self, name: str) -> Optional[ParameterSpec]:
        """Return the spec of parameter ``name`` or None."""
        for spec in self.parameters:
            if spec.name == name:
                return spec
        return None


class ActionRegistry:
    """All Go2 actions by SportClient name and by sport API id."""

    def __init__(self, specs: Iterable[ActionSpec]):
        self._by_name: Dict[str, ActionSpec] = {}
        self._by_id: Dict[int, ActionSpec] = {}
        for spec in specs:
            if spec.name in self._by_name or spec.api_id in self._by_id:
                raise ConfigError('duplicate action %s / api_id %d' % (spec.name, spec.api_id))
            self._by_name[spec.name] = spec
            self._by_id[spec.api_id] = spec

    @classmethod
    def load(cls, path: Optional[Path] = None) -> 'ActionRegistry':
        """Load the table; ``path`` None means the packaged ``go2_actions.yaml``.

        Raises:
            ConfigError: a row lacks a field or has a value outside its allowed set.
            FileNotFoundError: the file does not exist.
        """
        path = Path(path) if path else config_dir() / 'go2_actions.yaml'
        with open(path, encoding='utf-8') as stream:
            data = yaml.safe_load(stream)
        return cls(_parse_row(name, row) for name, row in (data.get('actions') or {}).items())

    def get(self, name: str) -> Optional[ActionSpec]:
        """Return the action called ``name`` (exact SportClient name) or None."""
        return self._by_name.get(name)

    def by_api_id(self, api_id: int) -> Optional[ActionSpec]:
        """Return the action with sport API id ``api_id`` or None."""
        return self._by_id.get(api_id)

    def names(self) -> List[str]:
        """All action names in table order."""
        return list(self._by_name)

    def llm_names(self) -> List[str]:
        """Names the LLM may choose from: enabled and ``from_llm``."""
        return [s.name for s in self._by_name.values() if s.enabled and s.from_llm]

    def __iter__(self):
        return iter(self._by_name.values())

    def __contains__(self, name: object) -> bool:
        return name in self._by_name


def _parse_row(name: str, row: Dict[str, Any]) -> ActionSpec:
    try:
        posture, risk = row['posture'], row['risk']
        if posture not in POSTURES:
            raise ConfigError('%s: posture %r not in %s' % (name, posture, POSTURES))
        if risk not in RISKS:
            raise ConfigError('%s: risk %r not in %s' % (name, risk, RISKS))
        params = tuple(
            ParameterSpec(p, float(b['min']), float(b['max']), float(b['default']),
                          str(b.get('unit', '')))
            for p, b in (row.get('parameters') or {}).items())
        names = {lang: tuple(words) for lang, words in (row.get('names') or {}).items()}
        held = bool(row.get('held', False))
        if held and params and not any(p.name == 'duration_s' for p in params):
            raise ConfigError('%s: a held action needs a duration_s parameter' % name)
        expected_s, min_s = float(row.get('expected_s', 1.0)), float(row.get('min_s', 0.0))
        phrasing = {str(k): float(v) for k, v in (row.get('phrasing') or {}).items()}
        if set(phrasing) - PHRASING_NAMES or any(v <= 0 for v in phrasing.values()):
            raise ConfigError('%s: phrasing takes %s, each > 0; got %r'
                              % (name, sorted(PHRASING_NAMES), phrasing))
        if not 0.0 <= expected_s <= 60.0 or not 0.0 <= min_s <= 60.0:
            raise ConfigError('%s: expected_s and min_s must be within 0-60 s' % name)
        return ActionSpec(name=name, api_id=int(row['api_id']), names=names,
                          needs_standing=bool(row['needs_standing']), posture=posture,
                          risk=risk, from_llm=bool(row.get('from_llm', True)),
                          enabled=bool(row.get('enabled', True)), parameters=params,
                          held=held, expected_s=expected_s,
                          done_modes=tuple(int(m) for m in row.get('done_modes') or ()),
                          progress=bool(row.get('progress', False)), min_s=min_s,
                          phrasing=tuple(sorted(phrasing.items())))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError('action %s: bad row %r' % (name, row)) from exc
