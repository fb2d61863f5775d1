#!/usr/bin/env bash
# Sets up and runs every test of the project on a fresh machine.
# Usage: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# Rust: unit, integration and doc tests of the workspace's default members
# (the Python binding crate stays outside them, so this needs no Python).
cargo test --workspace --all-features --no-fail-fast
