#!/usr/bin/env bash
# The whole test suite under the conditions users' machines have (not part of CI; see
# docs/testing.md): OpenBLAS with its own kernel choice and with OPENBLAS_CORETYPE=Haswell,
# libtorch at 1 and at 2 intra-op threads (OMP_NUM_THREADS, which psam's run.threads = 0 and the
# test main follow), on the Release build with its sanitised bad-input tests (ASan.*).
# Prints each condition's pass count and the names of the tests that failed.
#
# Usage: tools/test_sweep.sh [--torch debian|pip] [--build-dir DIR] [--kernels "auto Haswell"]
#                            [--threads "1 2"] [--ctest-args "..."]
# --torch pip sweeps the pip libtorch 2.x build instead (its BLAS is not OpenBLAS, so the kernel
# conditions repeat the same run there; give --kernels auto).
# Run from a fresh clone; it installs what it needs (tools/install_deps.sh) and builds first.
set -euo pipefail
cd "$(dirname "$0")/.."

torch=debian
build_dir=""
kernels="auto Haswell"
thread_counts="1 2"
ctest_args=""
while [ $# -gt 0 ]; do
  case "$1" in
    --torch) torch=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --kernels) kernels=$2; shift 2 ;;
    --threads) thread_counts=$2; shift 2 ;;
    --ctest-args) ctest_args=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "test_sweep: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

bash tools/install_deps.sh --torch "$torch"
case "$torch" in
  debian) build_dir=${build_dir:-build-sweep}; torch_args=() ;;
  pip)
    build_dir=${build_dir:-build-sweep-torch2}
    torch_args=(-DCMAKE_PREFIX_PATH="$(.deps/torch2/bin/python -c \
      'import torch; print(torch.utils.cmake_prefix_path)')" -DPSAM_ASAN_TESTS=OFF) ;;
  *) echo "test_sweep: --torch takes debian or pip" >&2; exit 2 ;;
esac
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPSAM_BUILD_BENCH=OFF \
  "${torch_args[@]}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"

logs="$build_dir/sweep"
mkdir -p "$logs"
summary=()
status=0
for kernel in $kernels; do
  for threads in $thread_counts; do
    name="kernel=$kernel threads=$threads"
    log="$logs/${kernel}_t${threads}.log"
    echo "test_sweep: $name ..."
    env_args=(OMP_NUM_THREADS="$threads")
    if [ "$kernel" != auto ]; then env_args+=(OPENBLAS_CORETYPE="$kernel"); else env_args+=(-u OPENBLAS_CORETYPE); fi
    start=$(date +%s)
    # shellcheck disable=SC2086
    if env "${env_args[@]}" ctest --test-dir "$build_dir" -j "$(nproc)" --output-on-failure \
        $ctest_args >"$log" 2>&1; then :; else status=1; fi
    seconds=$(( $(date +%s) - start ))
    line=$(grep -E '^[0-9]+% tests passed' "$log" || echo "ctest did not finish (see $log)")
    summary+=("$name: $line (${seconds} s)")
    failed=$(sed -n '/The following tests FAILED:/,$p' "$log" | grep -E '^\s+[0-9]+ - ' || true)
    [ -n "$failed" ] && summary+=("$failed")
  done
done

echo
echo "test_sweep: $torch libtorch, $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, logs in $logs"
printf '%s\n' "${summary[@]}"
exit $status
