#!/usr/bin/env bash
# Sets up a fresh machine and opens the Switchboard desktop app (embedded SQLite, no
# accounts needed). On a machine without a display, use `make serve` instead.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
if [[ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]]; then
  echo "run: no display here; for a headless server use: make serve" >&2
  exit 1
fi
(cd ui && npm run --silent build)
# custom-protocol embeds ui/dist in the binary instead of expecting the Vite dev server.
exec cargo run --locked --features custom-protocol --bin switchboard-desktop -- "$@"
