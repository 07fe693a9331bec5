#!/usr/bin/env bash
# Create .venv with Python >= 3.12 and install resurv with its test extras.
# Looks for: $RESURV_PYTHON, python3.13/python3.12 on PATH, pyenv versions, then python3.
set -euo pipefail
cd "$(dirname "$0")/.."
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; }
find_python() {
  local c
  for c in "${RESURV_PYTHON:-}" python3.13 python3.12; do
    [ -n "$c" ] && command -v "$c" >/dev/null 2>&1 && ok "$(command -v "$c")" && { command -v "$c"; return; }
  done
  for c in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3 /usr/bin/python3.1[2-9] /usr/local/bin/python3.1[2-9]; do
    [ -x "$c" ] && ok "$c" && { echo "$c"; return; }
  done
  if command -v python3 >/dev/null 2>&1 && ok "$(command -v python3)"; then command -v python3; return; fi
  return 1
}
if [ ! -x .venv/bin/python ] || ! ok .venv/bin/python; then
  py=$(find_python) || { echo "resurv needs Python >= 3.12: none found on PATH or under pyenv. Install one (e.g. 'pyenv install 3.12') or set RESURV_PYTHON=/path/to/python3.12." >&2; exit 2; }
  echo "setting up .venv with $py" >&2
  rm -rf .venv
  "$py" -m venv .venv
fi
stamp=.venv/.resurv-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >&2
  .venv/bin/python -m pip install -q -e '.[test]' >&2
  touch "$stamp"
fi
