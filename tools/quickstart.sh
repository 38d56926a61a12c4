#!/usr/bin/env bash
# The README's first command: set up this machine (Vulkan driver if missing, npm packages, the
# CLI bundle), then run the main job on built-in defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
bash tools/setup.sh
npm ci --no-audit --no-fund
npm run build
node dist/cli.js info
node dist/cli.js bench matmul --sizes 256,512
