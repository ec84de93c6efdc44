#!/usr/bin/env bash
# Rebuild the control panel (midimon/ui/static) from its Svelte sources in midimon/ui/frontend,
# with the npm packages package-lock.json pins, and record what it was built from
# (midimon/ui/static/BUILD.json, checked by tests/ui/test_assets.py). Needs Node 20 and npm;
# installing midimon does not: the built files are committed and ship in the wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v npm >/dev/null || { echo "ci/build_ui.sh: npm (Node 20) is required" >&2; exit 2; }
(cd midimon/ui/frontend && npm ci --no-audit --no-fund && npx vite build)
python3 ci/ui_build_hash.py > midimon/ui/static/BUILD.json
echo "==> built midimon/ui/static ($(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["assets_sha256"][:16])' midimon/ui/static/BUILD.json))"
