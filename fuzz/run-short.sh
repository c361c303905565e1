#!/usr/bin/env bash
# A short run of every fuzz target (cargo-fuzz, libFuzzer, a dev build: no release builds here),
# each from its committed seed corpus, new finds kept in a scratch directory. Any crash stops
# the run with the target's name and the reproducer under fuzz/artifacts/.
#
#   fuzz/run-short.sh [SECONDS_PER_TARGET]     (default 30)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`); RUSTC_BOOTSTRAP=1 lets stable Rust take the
# sanitizer flags libFuzzer needs.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-30}"
export RUSTC_BOOTSTRAP=1 CARGO_INCREMENTAL=0
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in $(cargo fuzz list); do
  mkdir -p "$scratch/$target"
  log="$scratch/$target.log"
  if ! cargo fuzz run --dev "$target" "$scratch/$target" "corpus/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "fuzz/run-short.sh: $target failed" >&2
    exit 1
  fi
  stats=$(grep -E "^Done [0-9]+ runs" "$log" | tail -1)
  cov=$(grep -oE "cov: [0-9]+" "$log" | tail -1)
  echo "$target: ${stats:-no summary} ($cov)"
done
