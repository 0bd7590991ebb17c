#!/usr/bin/env bash
# README command 2: from a fresh clone, install dependencies, configure, build and run every test.
# Environment: BUILD_DIR (default build), JOBS (default all cores), CTEST_ARGS (extra ctest args).
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/install_deps.sh
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD_DIR" -j "$JOBS"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" ${CTEST_ARGS:-}
