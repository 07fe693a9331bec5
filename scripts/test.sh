#!/usr/bin/env bash
# Set up (if needed) and run the test suite. Long statistical tests (simulation studies, parameter
# recovery) carry the `slow` marker and are left out; run them with `bash scripts/test.sh -m slow`
# (a later -m wins), or everything with `bash scripts/test.sh -m "slow or not slow"`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The report test renders index.html in headless Chromium; install it when missing and possible
# (root with apt-get). Elsewhere that test skips and says why.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium for the report rendering test" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "could not install chromium; the rendering test will be skipped" >&2
fi
# Two workers, one per core: the suite's time is mostly numba compiling model graphs, one core each.
# A test file runs whole on one worker (--dist loadfile), so a model its tests share compiles once.
exec .venv/bin/python -m pytest -n 2 --dist loadfile -m "not slow" "$@"
