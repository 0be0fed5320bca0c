"""Launch llm_node and diagnostics_node with config/claudia_llm.yaml.

Usage::

    ros2 launch claudia_llm claudia_llm.launch.py ollama_host:=http://127.0.0.1:11434 \
        model:=qwen2.5:7b redis_url:=redis://127.0.0.1:6379/0
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    """Both nodes, the packaged parameters YAML, and host/model/Redis overrides."""
    params = os.path.join(get_package_share_directory('claudia_llm'), 'config',
                          'claudia_llm.yaml')
    args = [
        DeclareLaunchArgument('params_file', default_value=params,
                              description='ROS parameters YAML'),
        DeclareLaunchArgument('ollama_host',
                              default_value=os.environ.get('OLLAMA_HOST',
                                                           'http://127.0.0.1:11434'),
                              description='Ollama base URL (default: $OLLAMA_HOST)'),
        DeclareLaunchArgument('model', default_value='qwen2.5:7b',
                              description='Ollama model tag'),
        DeclareLaunchArgument('redis_url', default_value='redis://127.0.0.1:6379/0',
                              description='Redis URL'),
    ]
    overrides = {
        'ollama.host': LaunchConfiguration('ollama_host'),
        'ollama.model': LaunchConfiguration('model'),
        'redis.url': LaunchConfiguration('redis_url'),
    }
    params_file = LaunchConfiguration('params_file')
    return LaunchDescription(args + [
        Node(package='claudia_llm', executable='llm_node', name='llm_node', output='screen',
             parameters=[params_file, overrides]),
        Node(package='claudia_llm', executable='diagnostics_node', name='diagnostics_node',
             output='screen', parameters=[params_file, overrides]),
    ])
