#!/usr/bin/env bash
# Set up scorelens on a fresh Debian machine (run as root, or with sudo available).
# Idempotent: a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" = "0" ] || SUDO="sudo"
# System packages: espeak-ng speaks the dialogue of the synthetic films; PostgreSQL is the
# optional fingerprint database (the tests start a private server from its binaries); Chromium
# opens the interactive report in its tests (Playwright drives this system browser: Playwright's
# own browser download is not reachable from every machine).
need=()
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
# PyTorch CPU build first: a bare `torch` requirement would pull a multi-GB CUDA build.
python -m pip install -q --disable-pip-version-check "torch==2.13.0"
python -m pip install -q --disable-pip-version-check -e ".[test]"
# musicnn's wheel is installed for its trained weights only (its code and pins are obsolete).
python -m pip install -q --disable-pip-version-check --no-deps "musicnn==0.1.0"
# Reference VGGish front end (mel_features.py, vggish_input.py) for the tests only.
python -m pip install -q --disable-pip-version-check --no-deps "torchvggish==0.2"
