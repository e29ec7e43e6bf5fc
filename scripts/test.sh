#!/usr/bin/env bash
# Everything CI checks, in order: formatting, lints, the UI's types, then every test (unit,
# API over real sockets, the binary, the real keyring) and the OpenAPI document's validity.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --test

echo "== format, lints and the engine's layers"
cargo fmt --all --check
# Every import in engine/src goes down the map in docs/ARCHITECTURE.md; no cycle.
python3 scripts/check-layers.py
cargo clippy --workspace --all-targets --locked -- -D warnings
(cd ui && npm run --silent lint && npm run --silent format:check && npm run --silent typecheck && npm run --silent build)

echo "== build"
cargo build --workspace --all-targets --locked
# The UI's API types are generated from the engine's OpenAPI document; they must not drift.
(cd ui && npm run --silent gen:api)
git diff --exit-code -- ui/src/api/schema.d.ts ui/src/api/limits.ts || {
  echo "ui/src/api/schema.d.ts or ui/src/api/limits.ts is stale: run (cd ui && npm run gen:api) and commit them" >&2
  exit 1
}

# The keyring tests talk to a real Secret Service: gnome-keyring in a private D-Bus session,
# its keyrings in a throwaway directory so no real keyring is touched.
keyring_home=$(mktemp -d)
# Test calls, listen-in and the audio devices are tested through a real sound server: a
# private, headless PulseAudio with a virtual speaker and microphone (no sound card needed).
audio_rig=$(mktemp -d)
# The second store: a private PostgreSQL on loopback, started here and stopped on the way out.
pg_rig=$(mktemp -d)
trap 'scripts/audio-rig.sh stop "$audio_rig"; scripts/postgres.sh stop "$pg_rig"; rm -rf "$keyring_home" "$audio_rig" "$pg_rig"' EXIT
eval "$(scripts/audio-rig.sh start "$audio_rig")"
# An assignment, so that a server that cannot start stops the run here (set -e).
pg_env=$(scripts/postgres.sh start "$pg_rig")
eval "$pg_env"
# Several nodes need PostgreSQL whichever store the suite runs on: the tests of a cluster take
# their schemas here in both passes.
export SWITCHBOARD_CLUSTER_DATABASE_URL="$SWITCHBOARD_TEST_DATABASE_URL"
pg_url="$SWITCHBOARD_TEST_DATABASE_URL"
unset SWITCHBOARD_TEST_DATABASE_URL
runner=(cargo test --workspace --locked)
command -v cargo-nextest >/dev/null && runner=(cargo nextest run --workspace --locked --no-fail-fast)

echo "== tests"
XDG_DATA_HOME="$keyring_home" dbus-run-session -- bash -ec '
  echo "" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  "$@"
  echo "== control API against its OpenAPI document"
  scripts/fuzz-api.sh' _ "${runner[@]}"

echo "== the same Rust tests on PostgreSQL"
# Its schema is SQLite's, table for table; its triggers do what SQLite's do, write for write.
python3 scripts/pg-schema-parity.py --fresh --schema parity "$pg_url"
python3 scripts/pg-trigger-check.py "$pg_url"
XDG_DATA_HOME="$keyring_home" SWITCHBOARD_TEST_DATABASE_URL="$pg_url" \
  dbus-run-session -- bash -ec '
  echo "" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  "$@"' _ "${runner[@]}"

echo "== UI in a browser, against a real engine"
# Tool secrets live only in the keyring: the browser tests get the same kind of private one.
XDG_DATA_HOME="$keyring_home" dbus-run-session -- bash -ec '
  echo "" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  cd ui && npm run --silent test:e2e'


echo "== server package: built, installed, run as its systemd unit says, purged"
node --test tests/package/

echo "== desktop app: package, then the real window under Xvfb through WebDriver"
# Builds the embedded-assets binary (ui/dist inside, as installed users get it) and the .deb.
ui/node_modules/.bin/tauri build --debug --bundles deb
xvfb-run -a -s "-screen 0 1280x800x24" node --test tests/desktop/
