#!/usr/bin/env bash
# Installs every Debian 12 package psam's build, tests and demo need. Idempotent: packages
# already present are not fetched again, and nothing is done when all are there.
set -euo pipefail

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

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install_deps: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
