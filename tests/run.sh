#!/usr/bin/env bash
# Install netwatch with its test extras into ./.venv and run the whole test suite.
# Usage: bash tests/run.sh [pytest args...]
# PYTHON (default python3) picks the interpreter; VENV (default .venv) the environment it installs into;
# JOBS (default 4) how many pytest-xdist workers run the tests (JOBS=0: one process, no workers).
set -euo pipefail
cd "$(dirname "$0")/.."

# The live tests compare netwatch with iproute2's `ss`, and drop privileges with util-linux's `setpriv`.
if ! command -v ss >/dev/null || ! command -v setpriv >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 util-linux >/dev/null
    else
        echo "tests/run.sh: install iproute2 (ss) and util-linux (setpriv) first" >&2
    fi
fi

# The exporter's test has a real Prometheus server scrape it (Debian's package: ~10 s to install).
if ! command -v prometheus >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 \
        || { apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; } \
        || echo "tests/run.sh: could not install prometheus: its test will be skipped" >&2
fi

# The `netwatch serve` test drives the TUI in Debian's headless chromium through its chromedriver (~20 s to install).
if ! command -v chromedriver >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null 2>&1 \
        || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; } \
        || echo "tests/run.sh: could not install chromium: the browser tests will be skipped" >&2
fi

venv=${VENV:-.venv}
"${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e '.[test]'
"$venv/bin/ruff" check .
# Four test processes on any number of cores: the tests mostly wait (for subprocesses, refreshes, the kernel).
exec "$venv/bin/python" -m pytest -n "${JOBS:-4}" "$@"
