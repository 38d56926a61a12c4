#!/usr/bin/env bash
# The README's first command: set up this machine (the Vulkan driver when no adapter exists,
# the npm packages, the CLI bundle), then run the main job on built-in defaults: feature
# extraction over a small sample collection (made here with ffmpeg), and a PCA picture.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
bash tools/setup.sh
npm ci --no-audit --no-fund
npm run build
node dist/cli.js info
node dist/cli.js sample walt-out/sample
node dist/cli.js extract walt-out/sample --out walt-out/features
node dist/cli.js pca walt-out/features --out walt-out/features/pca.png
echo "features: $(pwd)/walt-out/features (manifest.jsonl + features-*.safetensors); picture: walt-out/features/pca.png"
