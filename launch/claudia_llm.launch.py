"""Launch llm_node and diagnostics_node (and http_bridge with http:=true) with a params YAML.

Usage::

    ros2 launch claudia_llm claudia_llm.launch.py [params_file:=my.yaml] [namespace:=robot1] \
        [ollama_host:=http://127.0.0.1:11434] [model:=qwen2.5:7b] [redis_url:=redis://...] \
        [llm_backend:=openai base_url:=http://127.0.0.1:8080/v1] [http:=true]

Only the arguments given override the params file (``claudia_llm.ros.launch_params``);
``namespace`` moves the nodes and their relative topics (``claudia/utterance`` ...).
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch_ros.actions import Node

from claudia_llm.ros.launch_params import LAUNCH_ARGUMENTS, node_names, node_parameters


def _nodes(context):
    values = context.launch_configurations
    parameters = node_parameters(values['params_file'],
                                 {arg: values.get(arg, '') for arg, _, _ in LAUNCH_ARGUMENTS})
    namespace = values.get('namespace', '')
    return [Node(package='claudia_llm', executable=name, name=name, namespace=namespace or None,
                 output='screen', parameters=parameters)
            for name in node_names(values.get('http', ''))]


def generate_launch_description():
    """The nodes, the packaged parameters YAML, and the overrides actually given."""
    params = os.path.join(get_package_share_directory('claudia_llm'), 'config',
                          'claudia_llm.yaml')
    args = [DeclareLaunchArgument('params_file', default_value=params,
                                  description='ROS parameters YAML'),
            DeclareLaunchArgument('namespace', default_value='',
                                  description='namespace of the nodes and their topics'),
            DeclareLaunchArgument('http', default_value='',
                                  description='true: also start http_bridge (HTTP API and '
                                              'dashboard on http.host:http.port, '
                                              '127.0.0.1:8001 by default); default false')]
    args += [DeclareLaunchArgument(arg, default_value='', description=text)
             for arg, _, text in LAUNCH_ARGUMENTS]
    return LaunchDescription(args + [OpaqueFunction(function=_nodes)])
