#!/usr/bin/env bash
# Installs what a CPU-only Debian bookworm machine needs to run walt-webgpu's kernels:
# Mesa's software Vulkan driver (lavapipe) version 25 from bookworm-backports (bookworm's own
# 22.3 is refused by Dawn) and the Vulkan loader. Idempotent: does nothing when a Vulkan
# driver is already present (a GPU's ICD, or lavapipe). Needs root (or sudo) for apt.
#   bash tools/setup.sh            # install when missing
#   bash tools/setup.sh --check    # exit 0 if a Vulkan driver is present, 1 if not
set -euo pipefail

have_driver() {
  # Any ICD manifest counts: a real GPU driver or lavapipe 25.
  local d
  for d in /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d; do
    if ls "$d"/*.json >/dev/null 2>&1; then
      if ls "$d"/lvp_icd*.json >/dev/null 2>&1 && ! ls "$d"/*.json | grep -qv lvp_icd; then
        # Only lavapipe: accept it only when it is Mesa >= 25 (Dawn refuses 22.x).
        local v
        v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || echo 0)
        [[ "${v%%.*}" =~ ^[0-9]+$ ]] && [ "${v%%.*}" -ge 25 ] && ldconfig -p | grep -q libvulkan.so.1 && return 0
        return 1
      fi
      ldconfig -p | grep -q libvulkan.so.1 && return 0
    fi
  done
  return 1
}

if [ "${1:-}" = "--check" ]; then
  have_driver && exit 0 || exit 1
fi

if have_driver; then
  echo "setup: a Vulkan driver is already installed; nothing to do"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install mesa-vulkan-drivers" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
src=/etc/apt/sources.list.d/debian.sources
if [ -f "$src" ]; then
  if ! grep -qE '^Suites:.*bookworm-backports' "$src"; then
    # Add backports to the first Suites: line (the main archive's stanza).
    $SUDO sed -i '0,/^Suites: bookworm\b/s//Suites: bookworm bookworm-backports/' "$src"
  fi
elif ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo 'deb http://deb.debian.org/debian bookworm-backports main' | $SUDO tee /etc/apt/sources.list.d/backports.list >/dev/null
fi
echo "setup: installing mesa-vulkan-drivers (lavapipe) and libvulkan1 from bookworm-backports"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
echo "setup: installed mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)"
