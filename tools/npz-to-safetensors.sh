#!/usr/bin/env bash
# Converts an .npz checkpoint to safetensors (see `walt convert --help`):
#   bash tools/npz-to-safetensors.sh ckpt.npz --out w.safetensors [--rename map.json] [--config L]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
[ -f "$here/dist/cli.js" ] || (cd "$here" && npm run build >/dev/null)
exec node "$here/dist/cli.js" convert "$@"
