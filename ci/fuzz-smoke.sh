#!/usr/bin/env bash
# Short fuzzing run of every target in fuzz/, on the stable toolchain (no sanitizer), for CI.
#
#   ci/fuzz-smoke.sh [SECONDS] [TARGET...]      (default: 20 seconds, every target)
#
# Each target starts from a copy of its committed seeds (fuzz/seeds/<target>) in a temporary
# corpus directory, so nothing is written into the repository except crash artifacts under
# fuzz/artifacts/<target>/ (git-ignored), which is where to look when this fails.
# Exits non-zero as soon as a target crashes. Needs cargo-fuzz (`cargo install cargo-fuzz
# --locked`). Longer campaigns (nightly + ASan, -jobs, corpus minimisation): fuzz/README.md.
set -euo pipefail

seconds="${1:-20}"
shift || true
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: cargo-fuzz is not installed (cargo install cargo-fuzz --locked)" >&2
    exit 2
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "fuzz-smoke: building ${#targets[@]} target(s)"
cargo +stable fuzz build --sanitizer none

for t in "${targets[@]}"; do
    corpus="$work/$t"
    mkdir -p "$corpus"
    if [ -d "seeds/$t" ]; then
        cp -r "seeds/$t/." "$corpus/"
    fi
    echo "fuzz-smoke: $t for ${seconds}s ($(ls "$corpus" | wc -l) seeds)"
    if ! cargo +stable fuzz run --sanitizer none "$t" "$corpus" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$work/$t.log" 2>&1; then
        tail -n 60 "$work/$t.log" >&2
        echo "fuzz-smoke: $t FAILED; reproducer in fuzz/artifacts/$t/" >&2
        exit 1
    fi
    grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$work/$t.log" | sed "s/^/  $t /" || true
done
echo "fuzz-smoke: all ${#targets[@]} targets ran ${seconds}s without a crash"
