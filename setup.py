"""ament_python set-up for claudia_llm (colcon build on Foxy, pip install -e . elsewhere)."""
from glob import glob

from setuptools import find_packages, setup

package_name = 'claudia_llm'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*', 'bench']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', glob('launch/*.launch.py')),
        ('share/' + package_name + '/config', glob('config/*.yaml')),
    ],
    package_data={'claudia_llm.http': ['static/*.html', 'static/*.js', 'static/*.css',
                                       'static/vendor/*']},
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='claudia_llm developers',
    maintainer_email='dev@claudia.invalid',
    description='Language brain of a Unitree Go2: replies and safe sport commands via Ollama.',
    license='Apache-2.0',
    python_requires='>=3.8',
    entry_points={
        'console_scripts': [
            'llm_node = claudia_llm.ros.llm_node:main',
            'diagnostics_node = claudia_llm.ros.diagnostics_node:main',
            'go2_simulator = claudia_llm.ros.go2_simulator:main',
            'http_bridge = claudia_llm.ros.http_bridge:main',
            'claudia-llm = claudia_llm.cli:main',
        ],
    },
)
