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
# xgrammar (the Ask tab's constrained decoding) asks for triton, a gigabyte it uses only for CUDA kernels: on a CPU
# machine it is installed without it (tests/test_agent_planner.py runs it so). The rest comes from the requirements.
lists=$(mktemp -d)
trap 'rm -rf "$lists"' EXIT
grep -v '^xgrammar' requirements.txt > "$lists/requirements.txt"
sed "s|^-r requirements.txt|-r $lists/requirements.txt|" requirements-test.txt > "$lists/requirements-test.txt"
python -m pip install -q --disable-pip-version-check -r "$lists/requirements-test.txt"
python -m pip install -q --disable-pip-version-check "apache-tvm-ffi>=0.1.11"
python -m pip install -q --disable-pip-version-check --no-deps "$(grep -o '^xgrammar[^ #]*' requirements.txt)"
