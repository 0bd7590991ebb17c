#!/usr/bin/env bash
# psam against the official Python SAM on the same pip torch, in one command (docs/performance.md):
#   bash tools/bench/vs_python.sh [--repeats 3] [--threads "1 2"] [--build build-torch2]
# 1. builds bench_vs_python in the pip build (configuring it, and installing the pinned pip torch
#    with tools/install_deps.sh, where missing);
# 2. installs segment-anything from PyPI into a throwaway virtual environment that imports the
#    very torch psam's build links (no second torch);
# 3. runs every case as its own process, the variants alternating, --repeats rounds per thread
#    count: the image encoder (psam sdpa, psam explicit, Python), one forward against 16 samples
#    of one image, the decoder alone with 1 and 16 codes, and psam's Probabilistic SAM training
#    step uncached and cached;
# 4. prints one table: best time of the rounds, psam / Python, and each process's peak resident
#    memory (the largest of the rounds).
# Nothing else may run meanwhile: the timings share the machine's cores.
set -euo pipefail
cd "$(dirname "$0")/../.."

repeats=3 threads_list="1 2" build=build-torch2
while [ $# -gt 0 ]; do
  case "$1" in
    --repeats) repeats=$2; shift 2 ;;
    --threads) threads_list=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "vs_python.sh: unknown argument '$1' (--repeats N, --threads \"1 2\", --build DIR)" >&2
       exit 2 ;;
  esac
done

# 1. The psam side.
if [ ! -f "$build/CMakeCache.txt" ]; then
  bash tools/install_deps.sh --torch pip
  prefix=$(.deps/torch2/bin/python -c 'import torch; print(torch.utils.cmake_prefix_path)')
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
    -DPSAM_ASAN_TESTS=OFF -DPSAM_BUILD_TESTS=OFF
fi
cmake --build "$build" --target bench_vs_python
bench="$build/tools/bench/bench_vs_python"

# 2. The Python side, on the torch the build links: Torch_DIR is <site-packages>/torch/share/cmake/Torch.
torch_dir=$(sed -n 's/^Torch_DIR:[A-Z]*=//p' "$build/CMakeCache.txt")
site=$(cd "$torch_dir/../../../.." && pwd)
torch_python=$(cd "$site/../../.." && pwd)/bin/python3
if [ ! -x "$torch_python" ]; then
  echo "vs_python.sh: $build links the torch in $site, but $torch_python is not its Python" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$torch_python" -m venv --without-pip "$tmp/venv"
venv_site=$("$tmp/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$site" > "$venv_site/psam_torch.pth"
"$torch_python" -m pip install --quiet --no-deps --target "$venv_site" segment-anything==1.0
python="$tmp/venv/bin/python"
echo "python: segment-anything 1.0 on torch $("$python" -c 'import torch; print(torch.__version__)') ($site)"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"

# 3. Runs: one file of "key value" lines per (variant, threads, round).
run() {  # variant threads round command...
  local out="$tmp/$1.t$2.r$3"
  shift 3
  "$@" > "$out" 2> "$out.err" || { echo "vs_python.sh: failed: $*" >&2; cat "$out.err" >&2; exit 1; }
}
for round in $(seq "$repeats"); do
  for t in $threads_list; do
    echo "round $round of $repeats, $t thread(s)..." >&2
    run enc_sdpa "$t" "$round" "$bench" --case encoder --threads "$t" --attention sdpa
    run enc_python "$t" "$round" "$python" tools/bench/vs_python_ref.py --case encoder --threads "$t"
    run enc_explicit "$t" "$round" "$bench" --case encoder --threads "$t" --attention explicit
    run samples_psam "$t" "$round" "$bench" --case samples --threads "$t"
    run samples_python "$t" "$round" "$python" tools/bench/vs_python_ref.py --case samples --threads "$t"
    run train_psam "$t" "$round" "$bench" --case train --threads "$t" --iters 2
  done
done

# 4. The table.
echo "psam: $bench on libtorch $(sed -n 's/^libtorch //p' "$tmp/enc_sdpa.t${threads_list%% *}.r1")"
best() {  # variant threads key -> the smallest value over the rounds ("max": the largest)
  local agg=${4:-min}
  cat "$tmp/$1.t$2".r* | awk -v k="$3" -v agg="$agg" '$1 == k {
      if (n == 0 || (agg == "min" && $2 < v) || (agg == "max" && $2 > v)) v = $2; n++ }
    END { if (n) print v; else print "-" }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2fx", a / b }'; }
for t in $threads_list; do
  e_s=$(best enc_sdpa "$t" encoder_ms) e_e=$(best enc_explicit "$t" encoder_ms)
  e_p=$(best enc_python "$t" encoder_ms)
  m_s=$(best enc_sdpa "$t" peak_rss_mib max) m_e=$(best enc_explicit "$t" peak_rss_mib max)
  m_p=$(best enc_python "$t" peak_rss_mib max)
  echo
  echo "### $t thread(s), best of $repeats"
  echo
  echo "| case | psam | Python | psam / Python |"
  echo "| --- | --- | --- | --- |"
  echo "| image encoder, sdpa | $e_s ms | $e_p ms | $(ratio "$e_s" "$e_p") |"
  echo "| image encoder, explicit | $e_e ms | $e_p ms | $(ratio "$e_e" "$e_p") |"
  echo "| peak memory, encoder process (sdpa / explicit) | $m_s / $m_e MiB | $m_p MiB | $(ratio "$m_s" "$m_p") / $(ratio "$m_e" "$m_p") |"
  for key in forward_ms samples16_ms decoder1_ms decoder16_ms; do
    echo "| ${key%_ms} | $(best samples_psam "$t" "$key") ms | $(best samples_python "$t" "$key") ms | $(ratio "$(best samples_psam "$t" "$key")" "$(best samples_python "$t" "$key")") |"
  done
  f_s=$(best samples_psam "$t" forward_ms) s_s=$(best samples_psam "$t" samples16_ms)
  d1_s=$(best samples_psam "$t" decoder1_ms) d16_s=$(best samples_psam "$t" decoder16_ms)
  f_p=$(best samples_python "$t" forward_ms) s_p=$(best samples_python "$t" samples16_ms)
  d1_p=$(best samples_python "$t" decoder1_ms) d16_p=$(best samples_python "$t" decoder16_ms)
  echo "| 16 samples / one forward | $(ratio "$s_s" "$f_s") | $(ratio "$s_p" "$f_p") | |"
  echo "| decoder, 16 codes / 1 code | $(ratio "$d16_s" "$d1_s") | $(ratio "$d16_p" "$d1_p") | |"
  echo "| peak memory, samples process | $(best samples_psam "$t" peak_rss_mib max) MiB | $(best samples_python "$t" peak_rss_mib max) MiB | $(ratio "$(best samples_psam "$t" peak_rss_mib max)" "$(best samples_python "$t" peak_rss_mib max)") |"
  echo "| Probabilistic SAM step, uncached | $(best train_psam "$t" train_uncached_s) s | | |"
  echo "| Probabilistic SAM step, cached | $(best train_psam "$t" train_cached_s) s | | |"
  echo "| peak memory, training process | $(best train_psam "$t" peak_rss_mib max) MiB | | |"
done
