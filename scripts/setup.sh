#!/usr/bin/env bash
# Installs what Switchboard needs on a Debian/Ubuntu machine: `setup.sh` for building and
# running, `setup.sh --test` adds what the tests use (a virtual display, WebDriver, a real
# keyring, Chromium). Safe to run again: only what is missing is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

build_pkgs=(libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev
  libsoup-3.0-dev libjavascriptcoregtk-4.1-dev libxdo-dev libssl-dev pkg-config
  build-essential file libasound2-dev libdbus-1-dev)
test_pkgs=(xvfb xauth imagemagick x11-utils webkit2gtk-driver gnome-keyring libsecret-tools
  dbus-x11 chromium python3-venv pulseaudio pulseaudio-utils sox alsa-utils libasound2-plugins
  systemd postgresql)

pkgs=("${build_pkgs[@]}")
[[ "${1:-}" == "--test" ]] && pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v cargo >/dev/null || { echo "setup: Rust is needed: https://rustup.rs" >&2; exit 1; }
command -v npm >/dev/null || { echo "setup: Node.js 20+ and npm are needed" >&2; exit 1; }

# WebDriver for the real desktop window (tests only).
if [[ "${1:-}" == "--test" ]] && ! command -v tauri-driver >/dev/null; then
  cargo install tauri-driver --locked --quiet
fi

# The UI's packages (and the Tauri CLI), exactly as locked.
(cd ui && npm ci --no-fund --no-audit --loglevel=error)
