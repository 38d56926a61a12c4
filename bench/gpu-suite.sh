#!/usr/bin/env bash
# Every GPU figure the README promises, in one call on a lent GPU, in at most 8 minutes: matmul
# 4096³ f32/f16 with the peers, the attention sweep, model L forward f32/f16, extraction clips/s,
# one K400 readout training step at the study's batch (32), the per-kernel profile and window-size
# tradeoff. Each bench writes its JSON lines and markdown
# (device, date and commit in every row) into one folder, with suite.md: the device, the commit,
# and per step its command, exit status and seconds. Nothing is built on the GPU machine.
#
#   bash bench/gpu-suite.sh --prepare            # here, first: build dist/, stamp the commit, pack .gpu/
#                                                # (without ffmpeg unless --with-ffmpeg: see slim)
#   source .gpu/env.sh && bash bench/gpu-suite.sh     # on the GPU machine (device tool, carry .gpu and dist)
#   bash bench/gpu-suite.sh --smoke [--out DIR]  # tiny sizes on any adapter: checks the suite end to end
#
# Results go to --out DIR, else $OUT/bench-results/gpu-<date> when $OUT is set (the device tool
# brings $OUT back), else bench/results/gpu-<date>. Copy them into bench/results/ to commit them.
# Every step runs under --timeout-s (partial rows are still written) and an outer `timeout`; the
# suite exits 1 when a step failed or was cut short, after running the others.
set -uo pipefail

smoke=0
prepare=0
with_ffmpeg=0
out=''
budget=470 # seconds for the whole suite (8 min = 480)
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=1 ;;
    --prepare) prepare=1 ;;
    --with-ffmpeg) with_ffmpeg=1 ;;
    --out)
      out="${2:?--out needs a folder}"
      shift
      ;;
    --budget-s)
      budget="${2:?--budget-s needs seconds}"
      shift
      ;;
    -h | --help)
      sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "gpu-suite: unknown option '$1' (use --smoke, --prepare [--with-ffmpeg], --out DIR, --budget-s S)" >&2
      exit 2
      ;;
  esac
  shift
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 2

# Makes .gpu/ small enough to travel with the working tree (64 MiB in all): strips the debug info
# from node and dawn.node, keeps only the Node bundles of the tfjs packages (the browser bundles,
# sources and tests are not loaded), drops the bundled ffmpeg, recompresses with xz -9, and checks
# the total.
slim() {
  local tmp
  tmp=$(mktemp -d)
  xz -dc .gpu/node_modules.tar.xz | tar -xf - -C "$tmp"
  local nm="$tmp/node_modules"
  for pkg in tfjs-core:tf-core.node.js tfjs-backend-webgpu:tf-backend-webgpu.node.js; do
    local d="$nm/@tensorflow/${pkg%%:*}" keep=${pkg#*:}
    [ -d "$d" ] || continue
    find "$d" -mindepth 1 -maxdepth 1 ! -name dist ! -name package.json -exec rm -rf {} +
    find "$d/dist" -mindepth 1 -maxdepth 1 ! -name "$keep" -exec rm -rf {} +
  done
  find "$nm" -type f -name '*.d.ts' -delete
  # ffmpeg (67 MB, 16 MB packed) does not fit with the peers: without it the extract step is
  # skipped on the GPU machine unless that machine has its own ffmpeg (--with-ffmpeg keeps it).
  [ "$with_ffmpeg" = 1 ] || rm -f "$nm/@ffmpeg-installer/linux-x64/ffmpeg"
  [ -f "$nm/webgpu/dist/linux-x64/dawn.node" ] && strip --strip-debug "$nm/webgpu/dist/linux-x64/dawn.node"
  tar -C "$tmp" -cf - node_modules | xz -T2 -9 > .gpu/node_modules.tar.xz
  strip --strip-debug -o "$tmp/node" "$(readlink -f "$(command -v node)")"
  xz -T2 -9 -c "$tmp/node" > .gpu/node.xz
  rm -rf "$tmp"
  local kit tree total
  kit=$(du -sk .gpu dist | awk '{s += $1} END {print int(s / 1024)}')
  tree=$(git ls-files -co --exclude-standard -z | du -ck --files0-from=- 2> /dev/null | tail -1 | awk '{print int($1 / 1024)}')
  total=$((kit + tree))
  echo "gpu-suite: .gpu + dist ${kit} MiB, working tree ${tree} MiB: ${total} MiB of the 64 MiB the device tool carries"
  [ "$total" -lt 64 ] || {
    echo "gpu-suite --prepare: ${total} MiB is too much to carry" >&2
    exit 1
  }
}

if [ "$prepare" = 1 ]; then
  set -e
  npm run build
  commit=$(git rev-parse --short=12 HEAD)
  git diff --quiet HEAD -- || commit="$commit-dirty"
  echo "$commit" > dist/COMMIT
  kit="$root/../shared/gpu/pack.sh"
  if [ ! -f "$kit" ]; then
    echo "gpu-suite --prepare: no GPU kit at $kit (it comes with the project's shared folder); dist/ is built" >&2
    exit 1
  fi
  # The kit refuses a pack of 60 MiB or more (it is, with the peers): slim it below, then check the carry.
  PACK_WITH="@tensorflow/tfjs-core @tensorflow/tfjs-backend-webgpu onnxruntime-node onnxruntime-common" bash "$kit" || true
  [ -f .gpu/node_modules.tar.xz ] && [ -f .gpu/node.xz ] || {
    echo "gpu-suite --prepare: the GPU kit did not write .gpu/node.xz and .gpu/node_modules.tar.xz" >&2
    exit 1
  }
  slim
  echo "gpu-suite: prepared (commit $commit). On the GPU machine, with carry [\".gpu\", \"dist\"]:"
  echo "  source .gpu/env.sh && bash bench/gpu-suite.sh"
  exit 0
fi

if [ ! -f dist/cli.js ]; then
  echo "gpu-suite: dist/cli.js is missing: build it before (bash bench/gpu-suite.sh --prepare, or npm run build); the suite builds nothing" >&2
  exit 2
fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
if [ -z "${WALT_COMMIT:-}" ] && [ -f dist/COMMIT ]; then
  WALT_COMMIT=$(cat dist/COMMIT)
  export WALT_COMMIT
fi
if commit=$(git rev-parse --short=12 HEAD 2> /dev/null); then
  git diff --quiet HEAD -- 2> /dev/null || commit="$commit-dirty"
else
  commit=${WALT_COMMIT:-unknown}
fi
stamp=$(date -u +%Y-%m-%d-%H-%M-%S)
if [ -z "$out" ]; then
  if [ -n "${OUT:-}" ]; then
    out="$OUT/bench-results/gpu-$stamp"
  else
    out="bench/results/gpu-$stamp"
  fi
fi
mkdir -p "$out" || exit 2
summary="$out/suite.md"
walt=(node dist/cli.js)
failed=0
start=$SECONDS

{
  echo "# GPU suite $stamp$([ "$smoke" = 1 ] && echo ' (smoke: tiny sizes, not figures)')"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- commit: $commit"
  echo "- gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2> /dev/null || echo 'no nvidia-smi')"
  echo "- node: $(node --version)"
  echo
} > "$summary"
"${walt[@]}" info --json > "$out/device.json" 2> "$out/info.log" || failed=1
adapter=$(node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); const a = j.adapter ?? j; console.log([a.name ?? a.description ?? "?", a.isSoftware || a.software ? "(software)" : ""].join(" ").trim())' "$out/device.json" 2> /dev/null || echo '?')
{
  echo "- adapter: $adapter (walt info: device.json)"
  echo
  echo "| step | command | exit | s |"
  echo "|---|---|---|---|"
} >> "$summary"

# step NAME SECONDS ARGS…: one bench under --timeout-s and an outer timeout, within what is left.
step() {
  local name=$1 want=$2
  shift 2
  local left=$((budget - (SECONDS - start) - 20))
  local t=$((want < left ? want : left))
  if [ "$t" -lt 5 ]; then
    echo "| $name | walt $* | skipped: the suite's ${budget}-s budget is spent | 0 |" >> "$summary"
    echo "gpu-suite: $name skipped (budget spent)" >&2
    failed=1
    return
  fi
  echo "gpu-suite: $name (up to $t s): walt $*" >&2
  local t0=$SECONDS rc
  timeout -k 5 $((t + 20)) "${walt[@]}" "$@" --timeout-s "$t" --json --out "$out" > "$out/$name.stdout.jsonl" 2> "$out/$name.log"
  rc=$?
  [ "$rc" = 0 ] || failed=1
  echo "| $name | \`walt $*\` | $rc | $((SECONDS - t0)) |" >> "$summary"
  echo "gpu-suite: $name: exit $rc after $((SECONDS - t0)) s" >&2
}

# The extract bench decodes videos with ffmpeg: skipped (and said so) where there is none.
extract_step() {
  if [ -x node_modules/@ffmpeg-installer/linux-x64/ffmpeg ] || command -v ffmpeg > /dev/null; then
    step extract "$@"
  else
    echo "| extract | \`walt ${*:2}\` | skipped: no ffmpeg here (the kit leaves it out to fit the carry) | 0 |" >> "$summary"
    echo "gpu-suite: extract skipped: no ffmpeg on this machine" >&2
    failed=1
  fi
}

if [ "$smoke" = 1 ]; then
  step matmul-f32 60 bench matmul --sizes 64 --dtype f32 --peers tfjs-webgpu,ort-webgpu --reps 3
  step attention 90 bench attention --latent 5x4x4 --windows 5x2x2,full --heads 2 --head-dim 16 --dtype f32,f16 \
    --peers tfjs-webgpu,ort-webgpu,ort-webgpu-ops --matmul-size 64 --reps 3
  step model 60 bench model --config micro --dtype f32,f16
  step matmul-f16 60 bench matmul --sizes 64 --dtype f16 --peers ort-webgpu --reps 3
  extract_step 90 bench extract --config test-tiny
  step readout 60 bench readout --head k400 --batch 1 --reps 1 --form fast
  step profile 60 profile --config micro --windows 5x2x2,full
else
  step matmul-f32 50 bench matmul --sizes 4096 --dtype f32 --peers tfjs-webgpu,ort-webgpu
  step attention 110 bench attention --quick --rounds 3
  step model 70 bench model --config L --dtype f32,f16
  step matmul-f16 40 bench matmul --sizes 4096 --dtype f16 --peers ort-webgpu
  extract_step 60 bench extract --config L
  step readout 30 bench readout --head k400 --batch 32
  step profile 100 profile --config L
fi

{
  echo
  echo "Total: $((SECONDS - start)) s. Result files: <bench>-<date>.{jsonl,md} (+ charts); each step's stdout rows (the same, kept in case a step is killed) in <step>.stdout.jsonl, its progress in <step>.log."
} >> "$summary"
echo "gpu-suite: wrote $out ($((SECONDS - start)) s$([ "$failed" = 1 ] && echo ', some steps failed: see suite.md'))" >&2
exit "$failed"
