#!/bin/sh
# What `make run` / `make test` need on a bare machine before they install alertgate:
# Python 3.11+ with venv, and a C compiler with Python's headers (durable-rules, a required
# dependency, is published as C source only and is compiled on install).
PYTHON=${1:-python3}
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "make: $PYTHON not found: alertgate needs Python 3.11 or newer (Debian: apt-get install python3)" >&2
  exit 2
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "make: $("$PYTHON" -V 2>&1) is too old: alertgate needs Python 3.11 or newer (set PYTHON=python3.11)" >&2
  exit 2
fi
missing=""
"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || missing="$missing python3-venv"
command -v cc >/dev/null 2>&1 || missing="$missing build-essential"
"$PYTHON" -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || missing="$missing python3-dev"
if [ -n "$missing" ]; then
  echo "make: missing:$missing. durable-rules is compiled from C source when alertgate is installed, so a" >&2
  echo "      C compiler and the Python headers are needed (Debian/Ubuntu: apt-get install$missing)" >&2
  exit 2
fi
