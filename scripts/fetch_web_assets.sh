#!/usr/bin/env bash
# Vendor the dashboard's chart library from the npm registry into a gitignored static
# folder (the robot has no internet: the page never loads anything from a CDN).
# Usage: scripts/fetch_web_assets.sh   (make setup runs it; needs npm)
set -euo pipefail
CHARTJS_VERSION=4.5.1
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/claudia_llm/http/static/vendor"
[ -f "$dest/chart.umd.js" ] && grep -q "Chart.js v$CHARTJS_VERSION" "$dest/chart.umd.js" && exit 0
command -v npm >/dev/null 2>&1 || { echo "npm not found (apt-get install npm)" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "chart.js@$CHARTJS_VERSION" >/dev/null)
tar -xzf "$tmp/chart.js-$CHARTJS_VERSION.tgz" -C "$tmp" package/dist/chart.umd.js package/LICENSE.md
mkdir -p "$dest"
cp "$tmp/package/dist/chart.umd.js" "$dest/chart.umd.js"
cp "$tmp/package/LICENSE.md" "$dest/chart.js.LICENSE.md"
echo "vendored chart.js $CHARTJS_VERSION into $dest"
