#!/usr/bin/env bash
# Sets up and runs every test of the project on a fresh machine.
# Usage: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# The report test opens the HTML report in headless Chromium (Debian's package).
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing chromium (Debian package) for the report test..."
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
export WINBACK_REQUIRE_BROWSER=1
# Rust: unit, integration and doc tests of the workspace's default members
# (the Python binding crate, when it exists, stays outside them).
cargo test --workspace --all-features --no-fail-fast
