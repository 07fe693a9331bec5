#!/usr/bin/env bash
# Set up (if needed) and run the main job: the full re-analysis of the bundled study.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/resurv run "$@"
