#!/usr/bin/env bash
# Regenerates BENCHMARKS.md: cold start, per-request cost, memory and size of the
# token function against a hello-world floor, DynamoDB round trips, and what each change
# bought. Everything it builds and measures goes under target/bench/.
#
#   bench/run.sh [--cold N] [--warm N] [--runs N] [--no-variants] [--profiles] [--no-arm64]
#                [--no-criterion] [--no-perf]
#
#   --cold N         cold starts per function (default 30; at least 20)
#   --warm N         warm invocations after each cold start (default 20)
#   --runs N         issuances (and refreshes) per mode when counting DynamoDB requests (10)
#   --no-variants    skip the before/after start-up comparison (keeps its last results)
#   --profiles       also build and compare the release profiles (five more LTO builds)
#   --no-arm64       skip the arm64 build (zipped size only; it cannot run here)
#   --no-criterion   skip `cargo bench --bench request_path` (keeps its last results)
#   --no-perf        skip the CPU profile of warm issuances (perf; keeps its last results)
#
# First run: 20–40 minutes on 2 cores (two LTO builds, one with symbols for perf; an hour
# more with --profiles); later runs rebuild only what changed. Needs scripts/tools.sh's
# venv (moto, cargo-lambda), zip, openssl and, for the profile, perf (linux-perf).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

COMMAND="bench/run.sh $*"
COLD=30 WARM=20 RUNS=10 VARIANTS=1 PROFILES=0 ARM64=1 CRITERION=1 PERF=1
while (($#)); do
  case "$1" in
  --cold) COLD="$2"; shift 2 ;;
  --warm) WARM="$2"; shift 2 ;;
  --runs) RUNS="$2"; shift 2 ;;
  --no-variants) VARIANTS=0; shift ;;
  --profiles) PROFILES=1; shift ;;
  --no-perf) PERF=0; shift ;;
  --no-arm64) ARM64=0; shift ;;
  --no-criterion) CRITERION=0; shift ;;
  -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
  *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

scripts/tools.sh
export PATH="$ROOT/.tools/venv/bin:$PATH"
PY="$ROOT/.tools/venv/bin/python"
OUT="$ROOT/target/bench"
RES="$OUT/results"
mkdir -p "$RES"
log() { printf '\nbench: %s\n' "$*" >&2; }

# The floor must be built as the function is: same [profile.release].
"$PY" bench/report.py check-profile Cargo.toml bench/hello/Cargo.toml
"$PY" bench/report.py machine "$COLD" "$WARM" >"$RES/machine.json"
echo "${COMMAND% }" >"$RES/command.txt"

# --- Builds ------------------------------------------------------------------------------
# cargo lambda fills in what [profile.release] leaves unset (strip, lto, codegen-units,
# panic) and adds -C target-cpu=haswell (x86_64) / neoverse-n1 (arm64).
log "building the token function and the floor (cargo lambda build --release)"
cargo lambda build --release --bin token
# The token function with the bench-variants feature (src/bin/token.rs, src/aws.rs: see
# below) under the committed profile, but with symbols, line tables and frame pointers, so
# that perf can name where its CPU goes; the start-up comparison runs it too. And, sharing
# its dependencies' build, the admin tool, which creates the JWT signing key on moto for
# the jwt modes.
PROF_DIR="$ROOT/target/prof"
PROF_ENV=(CARGO_TARGET_DIR="$PROF_DIR" CARGO_PROFILE_RELEASE_STRIP=none
  CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
  RUSTFLAGS="-C target-cpu=haswell -C force-frame-pointers=yes")
log "building the token function with bench-variants and symbols, and the admin tool"
env "${PROF_ENV[@]}" cargo build --release --features bench-variants --bin token
env "${PROF_ENV[@]}" cargo build --release --features admin,bench-variants --bin oauth-admin
ADMIN="$PROF_DIR/release/oauth-admin"
VARIANT="$PROF_DIR/release/token"
(cd bench/hello && CARGO_TARGET_DIR="$OUT/hello" cargo lambda build --release --lambda-dir "$OUT/lambda")
TOKEN="$ROOT/target/lambda/token/bootstrap"
HELLO="$OUT/lambda/hello/bootstrap"
SIZES=("token=$TOKEN" "hello=$HELLO")

if ((ARM64)); then
  log "building the token function for arm64 (size only)"
  cargo lambda build --release --arm64 --bin token --lambda-dir "$OUT/lambda-arm64"
  SIZES+=("token-arm64=$OUT/lambda-arm64/token/bootstrap")
fi

# Profiles (--profiles only): the token function built with the bench-variants feature
# (src/bin/token.rs: OAUTH_BENCH_INIT=lazy skips its warm-up) under each release profile,
# each in its own target dir; and bench/variants' panicker (panic strategy check).
# "--disable-optimizations" makes cargo lambda leave the profile to the
# CARGO_PROFILE_RELEASE_* variables given here (and not add target-cpu), which override
# Cargo.toml's [profile.release].
variant_env() {
  local haswell="-C target-cpu=haswell"
  case "$1" in
  cargo) echo "LTO=false CODEGEN_UNITS=16 STRIP=none PANIC=unwind OPT_LEVEL=3 |" ;; # cargo's own
  lambda-defaults) echo "LTO=thin CODEGEN_UNITS=1 STRIP=symbols PANIC=abort OPT_LEVEL=3 |$haswell" ;;
  thin-unwind) echo "LTO=thin CODEGEN_UNITS=1 STRIP=symbols PANIC=unwind OPT_LEVEL=3 |$haswell" ;;
  fat-unwind) echo "LTO=fat CODEGEN_UNITS=1 STRIP=symbols PANIC=unwind OPT_LEVEL=3 |$haswell" ;;
  fat-unwind-s) echo "LTO=fat CODEGEN_UNITS=1 STRIP=symbols PANIC=unwind OPT_LEVEL=s |$haswell" ;;
  shipped) echo "$("$PY" bench/report.py profile-env Cargo.toml) |$haswell" ;;
  esac
}
build_variant() {
  local name="$1" spec profile flags w
  spec="$(variant_env "$name")"
  profile="${spec%%|*}" flags="${spec#*|}"
  local envs=(CARGO_TARGET_DIR="$OUT/v-$name")
  for w in $profile; do envs+=("CARGO_PROFILE_RELEASE_$w"); done
  [[ -n "$flags" ]] && envs+=("RUSTFLAGS=$flags")
  local opt=(--release --disable-optimizations --lambda-dir "$OUT/v-$name/lambda")
  log "building variant $name: ${envs[*]:1}"
  env "${envs[@]}" cargo lambda build "${opt[@]}" --features bench-variants --bin token
  local tools=()
  case "$name" in
  lambda-defaults) tools=(--bin panicker) ;;
  shipped) tools=(--bin panicker) ;;
  esac
  if ((${#tools[@]})); then
    cp Cargo.lock bench/variants/Cargo.lock
    (cd bench/variants && env "${envs[@]}" cargo lambda build "${opt[@]}" "${tools[@]}")
  fi
}
VARIANT_NAMES=()
((PROFILES)) && VARIANT_NAMES=(cargo lambda-defaults thin-unwind fat-unwind fat-unwind-s shipped)
for v in "${VARIANT_NAMES[@]}"; do build_variant "$v"; done
for v in "${VARIANT_NAMES[@]}"; do
  [[ -x "$OUT/v-$v/lambda/token/bootstrap" ]] && SIZES+=("lazy-$v=$OUT/v-$v/lambda/token/bootstrap")
done
"$PY" bench/report.py sizes "${SIZES[@]}" >"$RES/sizes.json"

# --- Cold starts, invocations, round trips -------------------------------------------------
# shellcheck source=scripts/moto.sh
source scripts/moto.sh
port="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# bench/load/moto_fast.py: moto whose transactions copy only the items they touch (stock
# moto copies whole tables, so a long run would measure moto's copying).
MOTO_SERVER="$ROOT/bench/load/moto_fast.py" moto_start "$port"
trap moto_stop EXIT
# Other jobs may share the machine: the measuring processes (moto, the harness and the
# functions it starts, which inherit it) run under SCHED_FIFO, so that a cold start waits for
# no compiler; mostly idle, they leave the CPUs to others between requests. Where that is not
# permitted, at nice -10.
if chrt -f 10 true 2>/dev/null; then
  PRIO=(chrt -f 10)
  for task in /proc/"$MOTO_PID"/task/*; do chrt -f -p 10 "${task##*/}" >/dev/null 2>&1 || true; done
else
  PRIO=(nice -n -10)
  renice -n -10 -p "$MOTO_PID" >/dev/null 2>&1 || true
fi
echo "${PRIO[*]}" >"$RES/priority.txt"
RT=(bench/runtime_api.py --moto "$MOTO_ENDPOINT" --tls --tls-dir "$OUT/tls")
rt() { local cmd="$1"; shift; "${PRIO[@]}" "$PY" "${RT[0]}" "$cmd" "${RT[@]:1}" "$@"; }

log "cold starts: token and the floor, interleaved ($COLD each, $WARM warm invocations each)"
# token: the deployment's defaults (ClientCacheSeconds 0: the client read on every request);
# token-cache: with the client cache on, a warm issuance's one DynamoDB request.
rt coldstart --cold "$COLD" --warm "$WARM" --logs "$OUT/logs/main" \
  --target hello="$HELLO" --target token="$TOKEN" --target token-cache="$TOKEN" \
  --env token-cache:CLIENT_CACHE_SECONDS=60 --out "$RES/coldstart.json"

log "DynamoDB requests and capacity units per issuance and per refresh, by mode"
# CLIENT_CACHE_SECONDS: 60 where the cache is on, 0 where it is off.
on="CLIENT_CACHE_SECONDS=60" off="CLIENT_CACHE_SECONDS=0" once="ISSUE_REFRESH_TOKENS=false"
rt count --bootstrap "$TOKEN" --runs "$RUNS" --admin "$ADMIN" --out "$RES/count.json" \
  --mode "opaque-refresh:$on" --mode "opaque-refresh-nocache:$off" \
  --mode "opaque:$on,$once" --mode "opaque-nocache:$off,$once" \
  --mode "jwt:$on,$once,TOKEN_FORMAT=jwt" --mode "jwt-nocache:$off,$once,TOKEN_FORMAT=jwt" \
  --mode "jwt-refresh:$on,TOKEN_FORMAT=jwt"

if ((VARIANTS)); then
  # What each start-up change bought: the committed function (the bench-variants build)
  # with each change undone, all of them undone (the start-up before), and without the
  # warm-up; every one logging its init steps.
  V="$VARIANT"
  targets=(--target hello="$HELLO" --target token="$TOKEN")
  for spec in "after:" "before:default-chains,native-roots,stalled-stream,eager-connector,eager-kms,prefault" \
    "undo-chains:default-chains" "undo-roots:native-roots" "undo-stalled:stalled-stream" \
    "undo-connector:eager-connector" "undo-kms:eager-kms" "undo-prefault:prefault"; do
    name="${spec%%:*}" undo="${spec#*:}"
    targets+=(--target "$name=$V" --env "$name:OAUTH_BENCH_INIT=phases")
    [[ -n "$undo" ]] && targets+=(--env "$name:OAUTH_BENCH_UNDO=$undo")
  done
  targets+=(--target "lazy=$V" --env "lazy:OAUTH_BENCH_INIT=lazy")
  for v in "${VARIANT_NAMES[@]}"; do
    targets+=(--target "lazy-$v=$OUT/v-$v/lambda/token/bootstrap" --env "lazy-$v:OAUTH_BENCH_INIT=lazy")
  done
  log "cold starts of the variants (before/after), interleaved"
  rm -f "$OUT"/logs/variants/*.log
  rt coldstart --cold "$COLD" --warm "$WARM" --logs "$OUT/logs/variants" "${targets[@]}" \
    --out "$RES/variants.json"
  if ((PROFILES)); then
    log "what a panic in a handler does, per panic strategy"
    "${PRIO[@]}" "$PY" bench/runtime_api.py panic --out "$RES/panic.json" \
      --target "abort=$OUT/v-lambda-defaults/lambda/panicker/bootstrap" \
      --target "unwind=$OUT/v-shipped/lambda/panicker/bootstrap"
  fi
fi

# --- Where a warm issuance's CPU goes ---------------------------------------------------------
# The build with symbols, profiled with perf over warm issuances only (perf attaches after
# the cold start and three issuances).
if ((PERF)) && command -v perf >/dev/null; then
  log "CPU profile of warm issuances (perf)"
  rt profile --bootstrap "$VARIANT" --invocations 3000 \
    --perf-data "$OUT/perf.data" --out "$RES/perf.json"
fi
moto_stop
trap - EXIT

# --- The request path ---------------------------------------------------------------------
if ((CRITERION)); then
  log "request path (cargo bench --bench request_path)"
  cargo bench --bench request_path --no-run
  # CPU-bound for about a minute: a higher priority than other jobs, but not real-time.
  nice -n -10 cargo bench --bench request_path -- --noplot
fi

"$PY" bench/report.py render "$RES" "$ROOT/target/criterion" >BENCHMARKS.md
log "wrote BENCHMARKS.md"
