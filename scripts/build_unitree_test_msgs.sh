#!/usr/bin/env bash
# Build the test copies of unitree_api and unitree_go (test/unitree_msgs) into the venv, so that
# `from unitree_api.msg import Request` works in .venv and the Unitree bridge can be tested over
# real DDS. Plain cmake with the PyPI ROS 2 wheels; about 30 s on two cores the first time, about 1 s when
# nothing changed (a stamp holds the hash of the sources). Not for the robot: there the real
# packages come from unitree_ros2 (docs/robot_setup.md).
#
# Usage: scripts/build_unitree_test_msgs.sh [VENV]   (default: .venv next to this script's repo)
set -euo pipefail
script="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
repo="$(dirname "$(dirname "$script")")"
venv="$(cd "${1:-$repo/.venv}" && pwd)"
py="$venv/bin/python"
src="$repo/test/unitree_msgs"
work="$venv/var/unitree_test_msgs"
stamp="$work/stamp"
packages=(unitree_api unitree_go)

import_check() {
  "$py" -c 'from unitree_api.msg import Request, Response; from unitree_go.msg import LowState, SportModeState' \
    >/dev/null 2>&1
}

hash="$( (cd "$src" && find . -type f -print0 | sort -z | xargs -0 sha256sum; \
          sha256sum "$script" | cut -d' ' -f1; "$py" -V) | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ] && import_check; then
  echo "unitree test messages: up to date"
  exit 0
fi

# System tools: cmake, a C/C++ compiler, the Python headers of the venv's interpreter.
need=()
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v cc >/dev/null 2>&1 || need+=(gcc)
command -v c++ >/dev/null 2>&1 || need+=(g++)
"$py" -c 'import os, sysconfig; p = sysconfig.get_paths()["include"]
raise SystemExit(0 if os.path.exists(os.path.join(p, "Python.h")) else 1)' \
  || need+=("python$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-dev")
if [ ${#need[@]} -gt 0 ]; then
  sudo=''
  [ "$(id -u)" -ne 0 ] && sudo='sudo'
  echo "installing system packages: ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Build-time wheels (rosidl generators, ament_cmake, catkin_pkg).
if ! "$py" -c 'import catkin_pkg, ament_package' >/dev/null 2>&1 \
    || [ ! -f "$venv/share/rosidl_default_generators/cmake/rosidl_default_generatorsConfig.cmake" ]; then
  "$py" -m pip install -q -r "$repo/requirements-unitree-test.txt"
fi

export AMENT_PREFIX_PATH="$venv" CMAKE_PREFIX_PATH="$venv" PATH="$venv/bin:$PATH"
jobs="$(nproc 2>/dev/null || echo 2)"

# One build folder per source checkout: CMake refuses a build folder configured for another
# source folder, and several checkouts (git worktrees) share one venv.
builds="$work/build-$(printf '%s' "$src" | sha256sum | cut -c1-12)"

build_one() {  # configure, build and install one package; output to its log
  local pkg="$1" build="$builds/$1"
  mkdir -p "$build"
  cmake -S "$src/$pkg" -B "$build" -DCMAKE_BUILD_TYPE=None -DBUILD_TESTING=OFF \
        -DCMAKE_INSTALL_PREFIX="$venv" -DPython3_EXECUTABLE="$py" \
    && cmake --build "$build" -j "$jobs" \
    && cmake --install "$build"
}

# The packages do not depend on each other: build them side by side (the code generators
# are single-threaded, so this keeps both cores busy).
rm -f "$stamp"
mkdir -p "$work"
pids=()
for pkg in "${packages[@]}"; do
  echo "building $pkg (log: $work/$pkg.log)"
  build_one "$pkg" >"$work/$pkg.log" 2>&1 &
  pids+=($!)
done
failed=0
for i in "${!packages[@]}"; do
  if ! wait "${pids[$i]}"; then
    tail -n 40 "$work/${packages[$i]}.log" >&2
    echo "building ${packages[$i]} failed (full log: $work/${packages[$i]}.log)" >&2
    failed=1
  fi
done
[ "$failed" -eq 0 ] || exit 1

if ! import_check; then
  "$py" -c 'from unitree_api.msg import Request, Response; from unitree_go.msg import LowState' >&2 || true
  echo "unitree test messages built but do not import in $venv" >&2
  exit 1
fi
echo "$hash" > "$stamp"
echo "unitree test messages: installed into $venv"
