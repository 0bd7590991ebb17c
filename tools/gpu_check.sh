#!/usr/bin/env bash
# One prepared command for a GPU machine (docs/gpu.md). A typical one has a pip torch 2.11+cu130,
# CMake, Ninja and nvcc, many cores, no Debian -dev packages and no network, so psam's other
# dependencies travel with the source tree as .deb files fetched beforehand.
#
#   tools/gpu_check.sh --fetch        here, with network: apt-get download those packages
#                                     into .debs/ (about 2 MB; pass .debs with the tree)
#   tools/gpu_check.sh --out DIR [--device cuda|cpu] [--model vit_b|tiny] [--python PY]
#                     [--build-timeout S]
#                                     there: unpack .debs/ into a prefix, build psam against the
#                                     Python's torch with every core, run the device leg of the
#                                     tests and the device benchmark, and write DIR/gpu_check.json
#                                     and DIR/gpu_check.log
#
# --device cpu rehearses the whole script on a machine without a GPU (the device tests then
# compare the CPU with itself). --python: the Python whose torch psam builds against (default:
# .deps/torch2/bin/python where tools/install_deps.sh --torch pip made it, else python3).
# Each stage has a time limit, so the JSON is written within about 8 minutes on a GPU machine
# (the CPU rehearsal takes longer: the build alone is about 10 minutes on 2 cores; give it
# --build-timeout 1200 there).
set -uo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(libyaml-cpp-dev libyaml-cpp0.7 libspdlog-dev libspdlog1.10 libfmt-dev libfmt9
          libgtest-dev libgmock-dev libcli11-dev nlohmann-json3-dev libpugixml-dev libpugixml1v5)
DEBS=.debs

out="" device="" model=vit_b python="" fetch=0 build_timeout=600
while [ $# -gt 0 ]; do
  case "$1" in
    --fetch) fetch=1; shift ;;
    --out) out=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --build-timeout) build_timeout=$2; shift 2 ;;
    --python) python=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "gpu_check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

if [ "$fetch" = 1 ]; then
  set -e
  rm -rf "$DEBS" && mkdir -p "$DEBS"
  (cd "$DEBS" && apt-get download "${PACKAGES[@]}")
  echo "gpu_check: $(ls "$DEBS" | wc -l) packages, $(du -sh "$DEBS" | cut -f1) in $DEBS"
  exit 0
fi
[ -n "$out" ] || { echo "gpu_check: give --out DIR (or --fetch)" >&2; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
log="$out/gpu_check.log"
exec > >(tee "$log") 2>&1
start=$(date +%s)
elapsed() { echo $(($(date +%s) - start)); }
stage() { echo; echo "== gpu_check [$(elapsed) s] $*"; }

if [ -z "$python" ]; then
  if [ -x .deps/torch2/bin/python ]; then python=.deps/torch2/bin/python; else python=python3; fi
fi
torch_prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)') || {
  echo "gpu_check: $python has no torch" >&2; exit 1; }
if [ -z "$device" ]; then
  device=$("$python" -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')
fi
stage "machine: $(nproc) cores, device $device, $("$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)')"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

stage "dependencies from $DEBS"
ls "$DEBS"/*.deb >/dev/null 2>&1 || { echo "gpu_check: no $DEBS/*.deb (run tools/gpu_check.sh --fetch first)" >&2; exit 1; }
build=build-gpu
prefix="$PWD/$build/deps"
rm -rf "$prefix" && mkdir -p "$prefix"
for deb in "$DEBS"/*.deb; do
  if command -v dpkg >/dev/null; then
    dpkg -x "$deb" "$prefix"
  else  # a .deb is an ar archive around data.tar.*
    tmp=$(mktemp -d) && (cd "$tmp" && ar x "$OLDPWD/$deb" && tar -xf data.tar.* -C "$prefix") && rm -rf "$tmp"
  fi
done
lib="$prefix/usr/lib/x86_64-linux-gnu"

stage "configure and build (every core)"
build_start=$(date +%s)
# Each dependency's CMake config from the prefix, never the system's (the rehearsal machine has
# them installed too). OpenCV and DCMTK stay out: image files and DICOM are not what this checks.
timeout 300 cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$torch_prefix;$prefix/usr" \
  -Dfmt_DIR="$lib/cmake/fmt" -Dspdlog_DIR="$lib/cmake/spdlog" -Dyaml-cpp_DIR="$lib/cmake/yaml-cpp" \
  -DGTest_DIR="$lib/cmake/GTest" -Dpugixml_DIR="$lib/cmake/pugixml" \
  -DCLI11_DIR="$prefix/usr/share/cmake/CLI11" -Dnlohmann_json_DIR="$prefix/usr/share/cmake/nlohmann_json" \
  -DPSAM_WITH_OPENCV=OFF -DPSAM_WITH_DCMTK=OFF -DPSAM_ASAN_TESTS=OFF -DPSAM_PYTHON="$(command -v "$python")" \
  && timeout "$build_timeout" cmake --build "$build" -j "$(nproc)" --target psam psam_tests bench_device
build_rc=$?
build_s=$(($(date +%s) - build_start))

tests_json="$out/tests.json"
bench_json="$out/bench.json"
tests_rc=1 bench_rc=1
if [ "$build_rc" = 0 ]; then
  stage "the device leg of the tests (PSAM_TEST_DEVICE=$device)"
  PSAM_TEST_DEVICE=$device timeout 240 "$build/tests/psam_tests" \
    --gtest_filter='Registry/OnBackend.*:DeviceTraining.*:GoldenOnBackend.*:Registry/OnMeta.*:OnMetaPlanted.*' \
    --gtest_output="json:$tests_json"
  tests_rc=$?
  stage "benchmark (bench_device --model $model)"
  timeout 240 "$build/tools/bench/bench_device" --device "$device" --model "$model" --json "$bench_json"
  bench_rc=$?
fi

stage "summary"
"$python" - "$out" "$device" "$build_rc" "$build_s" "$tests_rc" "$bench_rc" "$(elapsed)" <<'EOF'
import json, os, subprocess, sys
out, device, build_rc, build_s, tests_rc, bench_rc, total = sys.argv[1:]
report = {"device": device, "build": {"rc": int(build_rc), "seconds": int(build_s)},
          "tests": {"rc": int(tests_rc)}, "bench": {"rc": int(bench_rc)}, "seconds": int(total)}
try:
    report["gpu"] = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                                    "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
except OSError:
    report["gpu"] = None
path = os.path.join(out, "tests.json")
if os.path.exists(path):
    t = json.load(open(path))
    cases = [c for s in t["testsuites"] for c in s["testsuite"]]
    report["tests"].update(
        total=len(cases),
        failed=[c["classname"] + "." + c["name"] for c in cases if c.get("failures")],
        skipped=sum(1 for c in cases if c.get("result") == "SKIPPED"))
path = os.path.join(out, "bench.json")
if os.path.exists(path):
    report["bench"].update(json.load(open(path)))
json.dump(report, open(os.path.join(out, "gpu_check.json"), "w"), indent=2)
print(json.dumps({k: report[k] for k in ("device", "gpu", "build", "seconds")}))
print("tests:", {k: v for k, v in report["tests"].items()})
EOF
[ "$build_rc" = 0 ] && [ "$tests_rc" = 0 ] && [ "$bench_rc" = 0 ]
