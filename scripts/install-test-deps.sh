#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian/Ubuntu machine: Chromium for the browser tests (Playwright
# drives the system browser; its own browser download needs internet access we may not have), a CJK font so the
# Chinese interface's screenshots are readable (the interface itself has no emoji, so no emoji font), npm and
# axe-core (the browser tests' accessibility checks), and torch 2.13.0 plus the test requirements.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES="chromium fonts-wqy-zenhei npm"
missing=""
for package in $PACKAGES; do
    dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"
done
if ! command -v chromium >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1 || [ -n "$missing" ]; then
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    # npm may come with Node.js from elsewhere (NodeSource): then Debian's npm is not needed, nor installable.
    if command -v npm >/dev/null 2>&1; then missing="${missing/ npm/}"; fi
    # shellcheck disable=SC2086
    [ -z "$missing" ] || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

# axe-core, pinned, into .axe/ (ignored by git): tests/browser_support.py injects it into the page.
AXE_VERSION=4.14.1
if ! grep -qs "\"version\": \"$AXE_VERSION\"" .axe/node_modules/axe-core/package.json; then
    npm install --prefix .axe --no-save --no-audit --no-fund --loglevel=error "axe-core@$AXE_VERSION" >/dev/null
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
