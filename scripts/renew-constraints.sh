#!/bin/sh
# Resolves the newest versions that pyproject.toml's ranges allow, in a venv of its own, and pins
# every package installed (the extras for tests included) in constraints.txt.
set -eu
PYTHON=${1:-python3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=$(mktemp -d)
trap 'rm -rf "$VENV"' EXIT
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "$ROOT[test]"
{
  echo "# Pinned by 'make constraints' (scripts/renew-constraints.sh) on $(date -u +%Y-%m-%d), with"
  echo "# $("$VENV/bin/python" --version). Every install takes these versions: make run, make test, the image."
  "$VENV/bin/python" -m pip freeze --all --exclude-editable | grep -v -i -E '^(alertgate|pip|setuptools|wheel)( @ |==)'
} > "$ROOT/constraints.txt"
echo "constraints.txt: $(grep -c '==' "$ROOT/constraints.txt") packages pinned"
