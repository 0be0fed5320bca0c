"""Shared pytest configuration: markers."""


def pytest_configure(config):
    config.addinivalue_line('markers', 'ros: needs rclpy (not run under Python 3.8)')
    config.addinivalue_line('markers', 'slow: loads a real embedding model')
    for name in ('linter', 'flake8', 'pep257'):
        config.addinivalue_line('markers', '%s: an ament linter test' % name)
    config.addinivalue_line('markers', 'st: needs sentence-transformers and torch '
                            '(requirements-st.txt, Python 3.11 venv only)')
