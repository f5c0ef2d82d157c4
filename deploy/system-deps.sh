#!/usr/bin/env bash
# System packages Flockview needs beyond Python, installed from Debian when missing:
#   chromium            headless browser for the dashboard's end-to-end test (Playwright drives it)
#   poppler-utils       pdftoppm, to check that PDF reports render to non-blank pages
#   libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
#                       what WeasyPrint (the 'report' extra) needs to lay out and embed fonts in PDF reports
#   python3.X-venv      only when python3 has no ensurepip (Debian's own python3), so `python3 -m venv` works
# The base install (the provider SDK) needs none of them. Idempotent: does nothing (and needs no
# network) when everything is present.
set -euo pipefail

packages=(chromium poppler-utils libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
  missing+=("python3.$(python3 -c 'import sys; print(sys.version_info[1])')-venv")
fi

if [ "${#missing[@]}" -eq 0 ]; then
  echo "system-deps: all present (${packages[*]})"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: missing ${missing[*]} and apt-get is not available; install them with your package manager" >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "system-deps: missing ${missing[*]}; run this script as root (or install sudo)" >&2
    exit 1
  fi
fi

echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
