#!/usr/bin/env bash
# The Python packages the pypi_*.py serve tests use (test tooling only, never the
# product): RunPod's own client and schemathesis, pinned, in tests/serve/.venv.
# Safe to run repeatedly; reinstalls only when requirements.txt changed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv="$here/.venv"
stamp="$venv/.requirements"
if [ -x "$venv/bin/python" ] && cmp -s "$here/requirements.txt" "$stamp"; then
    echo "serve venv: up to date"
    exit 0
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt"
cp "$here/requirements.txt" "$stamp"
echo "serve venv: installed $(tr '\n' ' ' < "$here/requirements.txt")"
