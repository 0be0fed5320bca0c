"""ament_pep257 on the package: public modules, classes and functions have docstrings."""
import pytest
from ament_pep257.main import main


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257():
    # Google-style docstrings; __init__ and magic methods are documented on their class.
    # Paths first: --add-ignore takes every value that follows it.
    rc = main(argv=['claudia_llm', 'launch', '--convention', 'google',
                    '--add-ignore', 'D105,D107'])
    assert rc == 0, 'Found code style errors / warnings'
