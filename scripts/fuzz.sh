#!/usr/bin/env bash
# The libFuzzer runs of docs/FUZZING.md: every target (or those named) for SECONDS each.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail
cd "$(dirname "$0")/../engine/fuzz"
seconds=${1:-600}
shift || true
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is not installed: cargo install cargo-fuzz" >&2; exit 1; }
rustup run nightly true 2>/dev/null || { echo "no nightly toolchain: rustup toolchain install nightly" >&2; exit 1; }
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
cargo +nightly fuzz build
mkdir -p logs
for target in "${targets[@]}"; do
  echo "== $target: $seconds s"
  mkdir -p "corpus/$target"
  cargo +nightly fuzz run "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    2> "logs/$target.log" || { tail -40 "logs/$target.log"; echo "$target FAILED" >&2; exit 1; }
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE" "logs/$target.log" || true
done
