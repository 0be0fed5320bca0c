"""ament_flake8, as colcon test runs it on the robot (ROS 2 Python style, 99 columns)."""
import pytest
from ament_flake8.main import main_with_errors


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    rc, errors = main_with_errors(argv=['claudia_llm', 'launch', 'setup.py'])
    assert rc == 0, 'Found %d code style errors / warnings:\n' % len(errors) + '\n'.join(errors)
