#!/usr/bin/env bash
# A short fuzz run of every target, for CI (.ci/run calls it): the request parser and Basic
# decoder (`request`) and the whole handler on arbitrary events (`event`), each for
# FUZZ_SECONDS (default 30). Exits non-zero on a crash or a broken property; the input that
# did it is left in fuzz/artifacts/<target>/ (reproduce with `cargo fuzz run <target>
# <file>`).
#
# Installs what it needs on a fresh machine: cargo-fuzz (pinned) into .tools/cargo from
# crates.io. libFuzzer comes with the libfuzzer-sys crate (built with the machine's C++
# compiler). cargo-fuzz passes nightly-only flags to rustc: on a stable toolchain
# RUSTC_BOOTSTRAP=1 allows them. No sanitizer here (the code under test has no `unsafe`,
# and an uninstrumented build is quicker to make), built into fuzz/target/short so that it
# does not replace a long run's build; the long run in docs/HARDENING.md used
# AddressSanitizer.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARGO_FUZZ_VERSION="0.13.2"
TOOLS="$ROOT/.tools/cargo"
SECONDS_PER_TARGET="${FUZZ_SECONDS:-30}"
[[ "$SECONDS_PER_TARGET" =~ ^[0-9]+$ ]] || {
  echo "run-short.sh: FUZZ_SECONDS must be a whole number" >&2
  exit 2
}

if ! "$TOOLS/bin/cargo-fuzz" --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
  echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION into $TOOLS"
  cargo install --locked --root "$TOOLS" --version "$CARGO_FUZZ_VERSION" cargo-fuzz
fi
export PATH="$TOOLS/bin:$PATH"
if ! rustc --version | grep -q nightly; then
  export RUSTC_BOOTSTRAP=1
fi

cd "$ROOT/fuzz"
for target in request event; do
  echo "== cargo fuzz run $target (${SECONDS_PER_TARGET}s)"
  mkdir -p "corpus/$target"
  log="$(mktemp)"
  rc=0
  cargo fuzz run --sanitizer none --target-dir target/short "$target" "corpus/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -max_len=20000 -dict=dict/oauth.dict \
    -print_final_stats=1 >"$log" 2>&1 || rc=$?
  grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added)' "$log" || true
  if ((rc != 0)); then
    tail -n 60 "$log"
    rm -f "$log"
    echo "run-short.sh: $target failed (exit $rc); the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  rm -f "$log"
done
echo "fuzz: no crash"
