#!/usr/bin/env bash
# install-deps.sh - installs the Debian 12 packages flywheel builds and
# tests with. Idempotent and non-interactive: asks apt only for what is
# missing, and does nothing (not even apt-get update) when all is there.
# Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libprotobuf-c-dev protobuf-c-compiler
  libnghttp2-dev libssl-dev openssl libevent-dev zlib1g-dev
  libsqlite3-dev libjansson-dev libyaml-dev libcmocka-dev libhttp-parser-dev
  nghttp2-client curl ca-certificates python3 python3-yaml systemd
  prometheus
  chromium
  prometheus-alertmanager
  clang libclang-rt-dev
)
# Node.js runs the integration tests (OpenTelemetry JS SDK). CI images ship
# their own node; only fall back to Debian's when there is none.
if ! command -v node >/dev/null 2>&1; then
  packages+=(nodejs)
fi
if ! command -v npm >/dev/null 2>&1; then
  packages+=(npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all Debian packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  sudo_cmd=()
elif command -v sudo >/dev/null 2>&1; then
  sudo_cmd=(sudo)
else
  echo "install-deps: missing packages (${missing[*]}) and not root; rerun with sudo" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends "${missing[@]}"
