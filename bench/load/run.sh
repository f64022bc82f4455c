#!/usr/bin/env bash
# shellcheck disable=SC2317 # cleanup and its helpers run from traps
# Load test of the token function on this machine (docs/HARDENING.md §5): the real `token`
# binary served over HTTP on 127.0.0.1 as a Function URL (payload 2.0) by `cargo lambda
# watch` (or, with LOAD_SERVER=emulator, by bench/load/serve.py: a small Lambda Runtime API and HTTP front
# running LOAD_INSTANCES copies of the binary, no cargo involved); DynamoDB emulated by moto
# on 127.0.0.1; and bench/load/load.py firing client_credentials issuances at it. Passes when every request got a token pair and the tokens table holds the
# SHA-256 of every issued token exactly once. Prints the rate and the machine.
#
#   bench/load/run.sh
#
# Env: LOAD_COUNT (5000), LOAD_CONCURRENCY (32 connections), LOAD_INSTANCES (function
# instances, 2), LOAD_SERVER (cargo-lambda | emulator), LOAD_MOTO (fast | stock: see
# bench/load/moto_fast.py), LOAD_DEADLINE (seconds of firing, 900),
# LOAD_PROFILE (release | dev; release by default), LOAD_READY_TIMEOUT (seconds, 900),
# LOAD_BIN_DIR (a directory holding token and oauth-admin already built: no cargo build),
# LOAD_FRONT (1: DynamoDB through bench/dynamodb_front.py, which counts the requests by
# operation and their capacity units; their rates per second are printed at the end and
# written to target/bench/results/load.json, or load-cache.json when CLIENT_CACHE_SECONDS
# is set above 0 for the function).
# Only loopback is ever addressed. Everything it starts it stops, by PID and process group
# (scripts/lib/proc.sh), on any exit.
# moto serializes requests (scripts/moto_server.py): it, not the function, bounds the rate.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

COUNT="${LOAD_COUNT:-5000}"
CONCURRENCY="${LOAD_CONCURRENCY:-32}"
INSTANCES="${LOAD_INSTANCES:-2}"
DEADLINE="${LOAD_DEADLINE:-900}"
PROFILE="${LOAD_PROFILE:-release}"
SERVER="${LOAD_SERVER:-cargo-lambda}"
MOTO_KIND="${LOAD_MOTO:-fast}"
READY_TIMEOUT="${LOAD_READY_TIMEOUT:-900}"

log() { printf 'load: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
for var in COUNT CONCURRENCY INSTANCES DEADLINE READY_TIMEOUT; do
  [[ "${!var}" =~ ^[0-9]+$ ]] || die "$var must be a whole number (got '${!var}')"
done
case "$PROFILE" in
  release) build_flag=(--release) target_dir=release ;;
  dev) build_flag=() target_dir=debug ;;
  *) die "LOAD_PROFILE must be release or dev" ;;
esac
[[ "$SERVER" == emulator || "$SERVER" == cargo-lambda ]] ||
  die "LOAD_SERVER must be emulator or cargo-lambda"
[[ "$MOTO_KIND" == fast || "$MOTO_KIND" == stock ]] || die "LOAD_MOTO must be fast or stock"

scripts/tools.sh >&2
export PATH="$ROOT/.tools/venv/bin:$PATH"
PYTHON="$ROOT/.tools/venv/bin/python"
command -v curl >/dev/null 2>&1 || die "curl not found (apt-get install curl)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

WATCH_PID="" FRONT_PID=""
stop_front() {
  local p="$FRONT_PID"
  FRONT_PID=""
  proc_stop "$p" 10
}
stop_watch() {
  local p="$WATCH_PID"
  WATCH_PID=""
  proc_stop "$p" 10 # its process group: cargo-lambda or serve.py and the functions
}
cleanup() {
  trap - EXIT INT TERM
  stop_watch
  stop_front
  moto_stop
}

# shellcheck source=scripts/moto.sh
source scripts/moto.sh
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
# moto as scripts/moto.sh starts it, but through bench/load/moto_fast.py unless
# LOAD_MOTO=stock: stock moto deep-copies the whole tokens table for every transaction, so
# each issuance would cost more than the last (see moto_fast.py).
[[ "$MOTO_KIND" == stock ]] || MOTO_SERVER="$ROOT/bench/load/moto_fast.py"
MOTO_START_TIMEOUT=30 moto_start "$(free_port)" || die "cannot start moto"
log "moto ($MOTO_KIND) on $MOTO_ENDPOINT (pid $MOTO_PID)"

# The local emulator only, never an account: dummy credentials, no profile.
export AWS_ENDPOINT_URL_DYNAMODB="$MOTO_ENDPOINT"
export AWS_ACCESS_KEY_ID=load AWS_SECRET_ACCESS_KEY=load AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE
export CLIENTS_TABLE=load-clients TOKENS_TABLE=load-tokens
export LOG_LEVEL=info

if [[ -n "${LOAD_BIN_DIR:-}" ]]; then
  bin_dir="$(cd "$LOAD_BIN_DIR" && pwd)"
  [[ -x "$bin_dir/token" && -x "$bin_dir/oauth-admin" ]] || die "no token or oauth-admin in $bin_dir"
else
  log "building oauth-admin and token ($PROFILE)"
  cargo build "${build_flag[@]}" --features admin --bin oauth-admin >&2
  cargo build "${build_flag[@]}" --bin token >&2
  bin_dir="$ROOT/target/$target_dir"
fi
admin="$bin_dir/oauth-admin"
"$admin" create-tables >&2
creds="$("$admin" create-client --name load-test --scope quotes:read --json)"
read -r CLIENT_ID CLIENT_SECRET < <(
  "$PYTHON" -c 'import json, sys; c = json.load(sys.stdin); print(c["client_id"], c["client_secret"])' <<<"$creds"
)
[[ -n "$CLIENT_ID" && -n "$CLIENT_SECRET" ]] || die "cannot read oauth-admin's output"

if [[ "${LOAD_FRONT:-0}" == 1 ]]; then
  mkdir -p "$ROOT/target/bench/results"
  # The report BENCHMARKS.md reads: load.json, or load-cache.json with the client cache on.
  front_report="$ROOT/target/bench/results/load.json"
  [[ "${CLIENT_CACHE_SECONDS:-0}" != 0 ]] && front_report="$ROOT/target/bench/results/load-cache.json"
  front_port="$(free_port)"
  proc_start "$PYTHON" "$ROOT/bench/dynamodb_front.py" --upstream "$MOTO_ENDPOINT" \
    --port "$front_port" --report "$front_report" --meter >/dev/null 2>&1 </dev/null
  FRONT_PID=$!
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$front_port"
  log "DynamoDB through the counting front on $AWS_ENDPOINT_URL_DYNAMODB (pid $FRONT_PID)"
fi

port="$(free_port)"
url="http://127.0.0.1:$port/oauth"
watch_log="$ROOT/.tools/load-serve-$port.log"
log "serving the function on $url with $SERVER ($INSTANCES instances; log $watch_log)"
if [[ "$SERVER" == cargo-lambda ]]; then
  proc_start cargo lambda watch -A 127.0.0.1 -P "$port" --bin token --ignore-changes \
    --concurrency "$INSTANCES" "${build_flag[@]}" >"$watch_log" 2>&1 </dev/null
else
  proc_start "$PYTHON" "$ROOT/bench/load/serve.py" --binary "$bin_dir/token" \
    --port "$port" --instances "$INSTANCES" >"$watch_log" 2>&1 </dev/null
fi
WATCH_PID=$!

deadline=$((SECONDS + READY_TIMEOUT))
while :; do
  kill -0 "$WATCH_PID" 2>/dev/null || die "cargo lambda watch exited (log $watch_log)"
  answer="$(curl -s --noproxy '*' --max-time 60 -X POST "$url" 2>/dev/null || true)"
  [[ "$answer" == *'"error":"invalid_request"'*'grant_type'* ]] && break
  ((SECONDS < deadline)) || die "the function did not answer on $url within ${READY_TIMEOUT}s"
  sleep 1
done
# One issuance per instance first, so that no instance's cold start is in the figures.
warm=()
for ((i = 0; i < INSTANCES; i++)); do
  curl -sf --noproxy '*' --max-time 60 -o /dev/null -u "$CLIENT_ID:$CLIENT_SECRET" \
    -d grant_type=client_credentials "$url" &
  warm+=("$!")
done
for job in "${warm[@]}"; do
  wait "$job" || die "a warm-up request failed (log $watch_log)"
done
# Warm-up tokens would be "issued to nobody" in the check: start from an empty table.
"$PYTHON" - "$MOTO_ENDPOINT" "$TOKENS_TABLE" <<'EOF'
import sys, boto3
db = boto3.client("dynamodb", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="load", aws_secret_access_key="load")
for page in db.get_paginator("scan").paginate(TableName=sys.argv[2], ProjectionExpression="token_hash"):
    for item in page["Items"]:
        db.delete_item(TableName=sys.argv[2], Key={"token_hash": item["token_hash"]})
EOF

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(free -g | awk '/Mem:/ {print $2}') GiB; profile $PROFILE; $SERVER with $INSTANCES function instances; moto ($MOTO_KIND) serialized"
[[ -n "$FRONT_PID" ]] && kill -USR1 "$FRONT_PID" # count from here: the load only
rc=0
"$PYTHON" "$ROOT/bench/load/load.py" --url "$url" --count "$COUNT" \
  --concurrency "$CONCURRENCY" --deadline "$DEADLINE" \
  --client-id "$CLIENT_ID" --client-secret "$CLIENT_SECRET" \
  --dynamodb-endpoint "$MOTO_ENDPOINT" --tokens-table "$TOKENS_TABLE" || rc=$?
if [[ -n "$FRONT_PID" ]]; then
  kill -TERM "$FRONT_PID"
  for _ in $(seq 50); do kill -0 "$FRONT_PID" 2>/dev/null || break; sleep 0.1; done
  FRONT_PID=""
  echo "DynamoDB requests during the load (bench/dynamodb_front.py): $(cat "$front_report")"
fi
exit "$rc"
