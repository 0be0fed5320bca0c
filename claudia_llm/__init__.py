"""claudia_llm: the language brain of a Unitree Go2 (ROS 2 package)."""
