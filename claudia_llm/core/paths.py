"""Where the packaged config files live, in a source tree, a venv or a colcon install."""
import os
import sys
from pathlib import Path

PACKAGE = 'claudia_llm'


def config_dir() -> Path:
    """Return the folder holding ``claudia_llm.yaml``, ``go2_actions.yaml``, ``lexicon.yaml``.

    Looks, in order, at ``$CLAUDIA_LLM_CONFIG_DIR``, the source tree (``<repo>/config``),
    ``<sys.prefix>/share/claudia_llm/config`` (pip / venv) and the ament share folder
    (colcon install on the robot).

    Raises:
        FileNotFoundError: when none of them holds ``go2_actions.yaml``.
    """
    candidates = []
    if os.environ.get('CLAUDIA_LLM_CONFIG_DIR'):
        candidates.append(Path(os.environ['CLAUDIA_LLM_CONFIG_DIR']))
    candidates.append(Path(__file__).resolve().parents[2] / 'config')
    candidates.append(Path(sys.prefix) / 'share' / PACKAGE / 'config')
    try:  # colcon install: share/claudia_llm/config next to the package's install prefix
        from ament_index_python.packages import get_package_share_directory
        candidates.append(Path(get_package_share_directory(PACKAGE)) / 'config')
    except Exception:  # noqa: BLE001 - ament_index is absent off the robot
        pass
    for folder in candidates:
        if (folder / 'go2_actions.yaml').is_file():
            return folder
    raise FileNotFoundError('claudia_llm config folder not found; looked in: '
                            + ', '.join(str(c) for c in candidates))
