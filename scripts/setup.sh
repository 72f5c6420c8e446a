#!/usr/bin/env bash
# Idempotent set-up: Debian packages, uv, .venv from requirements.lock, the project (editable).
# A second run with nothing changed only compares stamps and exits in well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
BOOT=.bootstrap
# chromium: the real browser the web app tests drive (through playwright).
APT_PACKAGES=(libusb-1.0-0 libportaudio2 graphviz chromium)
log() { printf '[setup] %s\n' "$*" >&2; }
STARTED=$SECONDS

find_python310() {
  local candidate
  for candidate in python3.10 "$HOME"/.pyenv/versions/3.10*/bin/python3.10; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
      "$candidate" -c 'import sys; print(sys.executable)'; return 0
    fi
  done
  if command -v uv >/dev/null 2>&1 && uv python find 3.10 2>/dev/null; then return 0; fi
  return 1
}

find_uv() {
  if command -v uv >/dev/null 2>&1; then command -v uv; return 0; fi
  if [ ! -x "$BOOT/uv/bin/uv" ]; then
    log "installing uv from PyPI into $BOOT/uv"
    PIP_ROOT_USER_ACTION=ignore "$1" -m pip install --quiet --disable-pip-version-check --target "$BOOT/uv" uv \
      > "$BOOT/uv-install.log" 2>&1 || { log "pip install uv failed; see $BOOT/uv-install.log"; exit 1; }
  fi
  echo "$PWD/$BOOT/uv/bin/uv"
}

ensure_apt_packages() {
  local missing=() pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing Debian packages: ${missing[*]}"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
      > "$BOOT/apt.log" 2>&1 || { log "apt-get failed; see $BOOT/apt.log"; exit 1; }
  else
    log "missing Debian packages: ${missing[*]}"
    log "run: sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
}

mkdir -p "$BOOT"
ensure_apt_packages

PYTHON=$(find_python310) || {
  log "Python 3.10 not found (the only version this stack installs on)."
  log "get one with:  pyenv install 3.10.13   or   uv python install 3.10"
  exit 1
}

# This script is in the key too: a changed install step re-runs on existing venvs.
stamp_key=$(cat requirements.lock pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
stamp="$VENV/.t2i-setup-$stamp_key"
if [ -f "$stamp" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi

UV=$(find_uv "$PYTHON")
export UV_LINK_MODE=copy
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $PYTHON"
  "$UV" venv --quiet --python "$PYTHON" "$VENV"
fi
log "installing the locked stack into $VENV (first time: a few minutes, ~3.5 GB)"
# --compile-bytecode (the whole site-packages): these machines set PYTHONDONTWRITEBYTECODE=1,
# so without .pyc files every process compiled TensorFlow, TFX and Beam from source on
# import (TFX's KFP task entrypoint: 34.6 s -> 10.5 s to import, measured).
"$UV" pip sync --quiet --compile-bytecode --python "$VENV/bin/python" requirements.lock
"$UV" pip install --quiet --python "$VENV/bin/python" --no-deps --no-build-isolation -e .
rm -f "$VENV"/.t2i-setup-*
touch "$stamp"
log "ready: $VENV ($("$VENV/bin/python" --version)) in $((SECONDS - STARTED)) s"
