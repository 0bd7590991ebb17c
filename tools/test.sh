#!/usr/bin/env bash
# README command 2: from a fresh clone, install dependencies, configure, build and run every test,
# on both supported LibTorch builds (docs/testing.md):
#   debian  Debian's libtorch 1.13 (CPU) in build/, with the sanitised bad-input tests (ASan.*)
#   pip     the pinned pip libtorch 2.x (CUDA 13.0 compiled in, run on the CPU) in build-torch2/,
#           with the benchmarks (tools/bench), which GPU users build on this LibTorch
# Environment: PSAM_TEST_LEGS (default "debian pip"), BUILD_DIR (default build), BUILD_DIR_TORCH2
# (default build-torch2), JOBS (default all cores), CTEST_ARGS (extra ctest arguments).
set -euo pipefail
cd "$(dirname "$0")/.."

LEGS=${PSAM_TEST_LEGS:-debian pip}
JOBS=${JOBS:-$(nproc)}
times=()

leg() {  # name, build dir, cmake arguments...
  local name=$1 dir=$2 start
  shift 2
  start=$(date +%s)
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
  cmake --build "$dir" -j "$JOBS"
  local built=$(($(date +%s) - start))
  # One intra-op thread per test process (unless set): ctest runs JOBS processes side by side.
  # shellcheck disable=SC2086
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} ctest --test-dir "$dir" --output-on-failure -j "$JOBS" \
    ${CTEST_ARGS:-}
  times+=("$name: build ${built} s, tests $(($(date +%s) - start - built)) s")
}

start=$(date +%s)
case " $LEGS " in *" pip "*) bash tools/install_deps.sh --torch pip ;; *) bash tools/install_deps.sh ;; esac
times+=("dependencies: $(($(date +%s) - start)) s")

for l in $LEGS; do
  case "$l" in
    debian) leg debian "${BUILD_DIR:-build}" -DPSAM_BUILD_BENCH=OFF ;;
    pip)
      prefix=$("${PSAM_TORCH2_VENV:-.deps/torch2}/bin/python" -c \
        'import torch; print(torch.utils.cmake_prefix_path)')
      leg pip "${BUILD_DIR_TORCH2:-build-torch2}" -DCMAKE_PREFIX_PATH="$prefix" \
        -DPSAM_ASAN_TESTS=OFF
      ;;
    *) echo "test.sh: unknown leg '$l' in PSAM_TEST_LEGS (debian, pip)" >&2; exit 2 ;;
  esac
done
printf 'test.sh: %s\n' "${times[@]}"
