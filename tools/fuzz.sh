#!/usr/bin/env bash
# Coverage-guided fuzzing of psam's parsers: builds the libFuzzer harnesses of tests/fuzz with
# clang (AddressSanitizer + UBSan) and runs each for SECONDS (default 60), one after another.
#
#   tools/fuzz.sh [SECONDS] [TARGET ...]     targets: pickle pth safetensors npy config lidc_xml
#                                            dicom image store (default: all)
#
# Environment: FUZZ_BUILD_DIR (default build-fuzz), JOBS (build parallelism, default all cores),
# FUZZ_TIMEOUT (seconds one input may take before it counts as a hang, default 10; raise it on a
# loaded machine), FUZZ_BUILD_ONLY=1 (build, do not run), CXX (default clang++-14; PSAM_FUZZ_DEPS=1
# tools/install_deps.sh installs it with libFuzzer).
# Each target's corpus grows in $FUZZ_BUILD_DIR/corpus/TARGET across runs, seeded from
# tests/fuzz/seeds, tests/fuzz/regressions and the real files in ../shared when present. Inputs
# that crash, leak or time out land in $FUZZ_BUILD_DIR/crashes/TARGET/; copy each one into
# tests/fuzz/regressions/TARGET/ once fixed so the test suite keeps it. A table of executions,
# edges covered and findings per target is printed at the end; the exit status is 1 when any
# target found something.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${1:-60}
shift || true
ALL_TARGETS=(pickle pth safetensors npy config lidc_xml dicom image store)
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL_TARGETS[@]}")
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
JOBS=${JOBS:-$(nproc)}
CXX=${CXX:-clang++-14}
SHARED=../shared

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DPSAM_FUZZ=ON -DPSAM_BUILD_TESTS=OFF \
  -DPSAM_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target $(printf 'fuzz_%s ' "${TARGETS[@]}")
[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0

# Per target: the longest input tried (bytes) and the real files that seed it.
declare -A MAX_LEN=([pickle]=65536 [pth]=262144 [safetensors]=65536 [npy]=65536 [config]=65536
                    [lidc_xml]=131072 [dicom]=262144 [image]=262144 [store]=65536)
seed_files() {
  case $1 in
    pth) ls "$SHARED"/golden/probsam_tiny.pth 2>/dev/null ;;
    lidc_xml) ls "$SHARED"/realdata/lidc_xml_annotations/examples/*.xml 2>/dev/null ;;
    dicom) find "$SHARED"/realdata -name '*.dcm' -size -600k 2>/dev/null ;;
    image) find "$SHARED"/realdata -name '*.png' -size -64k 2>/dev/null | head -40
           find "$SHARED"/realdata -name '*.jpeg' 2>/dev/null ;;
  esac
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp
export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v llvm-symbolizer-14 || true)}

summary=()
found=0
for t in "${TARGETS[@]}"; do
  corpus=$BUILD/corpus/$t
  crashes=$BUILD/crashes/$t
  mkdir -p "$corpus" "$crashes"
  for d in tests/fuzz/seeds/$t tests/fuzz/regressions/$t; do
    [ -d "$d" ] && find "$d" -type f -exec cp -n {} "$corpus"/ \;
  done
  while IFS= read -r f; do [ -n "$f" ] && cp -n "$f" "$corpus/shared_$(basename "$f")"; done \
    < <(seed_files "$t")
  dict=()
  [ -f tests/fuzz/dict/$t.dict ] && dict=(-dict=tests/fuzz/dict/$t.dict)
  before=$(ls "$crashes" | wc -l)
  log=$BUILD/logs/$t.log
  mkdir -p "$(dirname "$log")"
  echo "fuzz: $t for ${SECONDS_EACH}s"
  "$BUILD/tests/fuzz/fuzz_$t" "$corpus" -max_total_time="$SECONDS_EACH" \
    -max_len="${MAX_LEN[$t]}" -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb=2560 -malloc_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$crashes/" "${dict[@]}" >"$log" 2>&1 || true
  after=$(ls "$crashes" | wc -l)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  units=$(ls "$corpus" | wc -l)
  new=$((after - before))
  [ $new -gt 0 ] && found=1
  summary+=("$(printf '%-12s %12s %8s %8s %8s' "$t" "${execs:-?}" "${cov:-?}" "$units" "$new")")
done

printf '%-12s %12s %8s %8s %8s\n' target executions edges corpus findings
printf '%s\n' "${summary[@]}"
if [ $found -ne 0 ]; then
  echo "fuzz: findings in $BUILD/crashes (logs in $BUILD/logs)"
  exit 1
fi
