#!/usr/bin/env bash
# Installs what psam's builds, tests and demo need. Idempotent: what is already there is not
# fetched again.
#   tools/install_deps.sh               Debian 12 packages: everything the Debian libtorch 1.13
#                                       (CPU) build needs
#   tools/install_deps.sh --torch pip   also the pinned pip torch 2.x (CUDA 13.0) of the second
#                                       build, in a virtual environment (PSAM_TORCH2_VENV, default
#                                       .deps/torch2), from tools/requirements-torch2.txt
# Nothing is downloaded later: the builds and tests use only what this script installed.
set -euo pipefail
cd "$(dirname "$0")/.."

torch=debian
while [ $# -gt 0 ]; do
  case "$1" in
    --torch) torch=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "install_deps: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$torch" in debian|pip) ;; *) echo "install_deps: --torch takes debian or pip, not '$torch'" >&2; exit 2 ;; esac

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libtorch-dev libopenblas0-pthread
  libopencv-dev libdcmtk-dev libyaml-cpp-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libcli11-dev nlohmann-json3-dev libpugixml-dev
  libgloo-dev  # headers of c10d's Gloo backend (data-parallel training on CPU)
  python3-torch python3-numpy python3-pil
  python3-protobuf  # tests decode TensorBoard event files with protobuf's own parser
)
# tools/fuzz.sh (libFuzzer harnesses; not needed by the build or the tests): PSAM_FUZZ_DEPS=1
if [ "${PSAM_FUZZ_DEPS:-0}" = 1 ]; then PACKAGES+=(clang-14 libfuzzer-14-dev llvm-14); fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#PACKAGES[@]} Debian packages present"
else
  echo "install_deps: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

[ "$torch" = pip ] || exit 0

venv=${PSAM_TORCH2_VENV:-.deps/torch2}
requirements=tools/requirements-torch2.txt
stamp="$venv/psam-requirements.txt"
if [ -f "$stamp" ] && cmp -s "$stamp" "$requirements"; then
  echo "install_deps: pip torch present in $venv"
  exit 0
fi
python=${PSAM_PIP_PYTHON:-python3}
if ! "$python" -m venv --help >/dev/null 2>&1; then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends python3-venv
fi
echo "install_deps: installing $requirements into $venv"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r "$requirements"
"$venv/bin/python" -c 'import torch, torchvision, segment_anything, numpy, PIL, google.protobuf'
cp "$requirements" "$stamp"
