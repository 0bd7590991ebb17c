#!/usr/bin/env bash
# README command 1: the main job on the embedded default. Grows with the project.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target psam
./build/psam --help
