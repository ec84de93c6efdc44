#!/usr/bin/env bash
# Set up .venv (ci/setup.sh) and show MIDI-like events turning into plugin actions, using the
# bundled plugins and no MIDI hardware.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/env.sh
bash ci/setup.sh
exec .venv/bin/midimon run --demo "$@"
