#!/usr/bin/env bash
# Install the system packages claudia_llm's scripts and tests need (Debian/Ubuntu).
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# The venv uses Python 3.11 (the ROS 2 wheels are cp311): Debian 12's python3.
command -v python3.11 >/dev/null 2>&1 || need+=(python3.11)
python3.11 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3.11-venv)
# npm fetches the dashboard's chart.js (scripts/fetch_web_assets.sh); chromium runs the
# dashboard test headless (test/integration/test_dashboard_chromium.py), tests only.
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# A CJK font, so the dashboard screenshot shows Japanese and Chinese utterances.
[ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || need+=(fonts-wqy-zenhei)
[ ${#need[@]} -eq 0 ] && exit 0
sudo=''
[ "$(id -u)" -ne 0 ] && sudo='sudo'
echo "installing system packages: ${need[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
# Debian starts a redis-server service on 6379 on install; our scripts start their own.
