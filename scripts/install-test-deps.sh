#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian/Ubuntu machine: Chromium for the browser tests (Playwright
# drives the system browser; its own browser download needs internet access we may not have), a CJK font so the
# Chinese interface's screenshots are readable, and torch 2.13.0 plus the test requirements.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1 || ! dpkg -s fonts-wqy-zenhei >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null
fi

# torch first and pinned, so requirements.txt's looser `torch` is already satisfied (CI has a CPU wheel on disk).
python -m pip install -q --disable-pip-version-check torch==2.13.0
python -m pip install -q --disable-pip-version-check -r requirements-test.txt
