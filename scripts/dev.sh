#!/usr/bin/env bash
# shellcheck disable=SC2317 # cleanup and its helpers run from traps
# Serves the token endpoint on this machine: `make dev` runs this.
#
#   scripts/dev.sh
#
# 1. Installs the tools it needs (scripts/tools.sh: moto and cargo-lambda in .tools/venv).
# 2. Starts moto (a local DynamoDB) on 127.0.0.1:$OAUTH_DEV_DYNAMODB_PORT (8000).
# 3. Creates the tables and a demo client, and prints its id, its secret and a curl line
#    that gets a token.
# 4. Serves the function with `cargo lambda watch` at
#    http://127.0.0.1:$OAUTH_DEV_PORT/oauth (9000); edits to the code reload it. Prints a
#    line with "ready" once a token request succeeds (the first build takes a while).
#
# Ctrl-C or SIGTERM stops everything it started, by PID and process group. moto keeps its
# data in memory: every run starts empty, with a new demo client.
#
# Env: OAUTH_DEV_PORT (9000), OAUTH_DEV_DYNAMODB_PORT (8000),
#      OAUTH_DEV_READY_TIMEOUT seconds to wait for the first answer (900),
#      CLIENTS_TABLE, TOKENS_TABLE (oauth-clients, oauth-tokens).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DEV_PORT="${OAUTH_DEV_PORT:-9000}"
DB_PORT="${OAUTH_DEV_DYNAMODB_PORT:-8000}"
READY_TIMEOUT="${OAUTH_DEV_READY_TIMEOUT:-900}"
URL="http://127.0.0.1:$DEV_PORT/oauth"

log() { printf 'dev.sh: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

for var in OAUTH_DEV_PORT OAUTH_DEV_DYNAMODB_PORT OAUTH_DEV_READY_TIMEOUT; do
  [[ "${!var:-0}" =~ ^[0-9]+$ ]] || die "$var must be a number (got '${!var}')"
done
((DEV_PORT >= 1 && DEV_PORT <= 65535 && DB_PORT >= 1 && DB_PORT <= 65535)) ||
  die "ports must be from 1 to 65535"
((DEV_PORT != DB_PORT)) || die "OAUTH_DEV_PORT and OAUTH_DEV_DYNAMODB_PORT must differ"

# --- Everything started here is stopped here, by PID and process group ------------------
# shellcheck source=scripts/lib/proc.sh
source scripts/lib/proc.sh
WATCH_PID=""
CHILD_PID="" # the foreground step, run in the background so that a signal stops it at once

cleanup() {
  trap - EXIT INT TERM
  proc_stop "$CHILD_PID"
  CHILD_PID=""
  if [[ -n "$WATCH_PID" ]]; then
    log "stopping the function server (pid $WATCH_PID)"
    proc_stop "$WATCH_PID"
    WATCH_PID=""
  fi
  [[ -z "${STATUS_FILE:-}" ]] || rm -f "$STATUS_FILE"
  if [[ -n "${MOTO_PID:-}" ]]; then
    log "stopping moto (pid $MOTO_PID)"
    moto_stop
  fi
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

# Runs a step in the background and waits for it: bash runs a trap only once the
# foreground command is done, and a build can take minutes.
step() {
  "$@" &
  CHILD_PID=$!
  local rc=0
  wait "$CHILD_PID" || rc=$?
  CHILD_PID=""
  return "$rc"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- Tools, DynamoDB, tables, demo client --------------------------------------------
step scripts/tools.sh || die "scripts/tools.sh failed"
export PATH="$ROOT/.tools/venv/bin:$PATH"
PYTHON="$ROOT/.tools/venv/bin/python"
command -v curl >/dev/null 2>&1 || die "curl not found (apt-get install curl)"
port_busy "$DEV_PORT" && die "port $DEV_PORT on 127.0.0.1 is in use: set OAUTH_DEV_PORT to another"

# shellcheck source=scripts/moto.sh
source scripts/moto.sh
moto_start "$DB_PORT" || die "cannot start moto: set OAUTH_DEV_DYNAMODB_PORT to a free port"
log "moto (local DynamoDB) on $MOTO_ENDPOINT, pid $MOTO_PID"

# Only the local emulator, never a real account: dummy credentials, no profile.
export AWS_ENDPOINT_URL_DYNAMODB="$MOTO_ENDPOINT"
# moto serves KMS too: the JWT signing key is sealed there.
export AWS_ENDPOINT_URL="$MOTO_ENDPOINT"
export AWS_ACCESS_KEY_ID=dev AWS_SECRET_ACCESS_KEY=dev AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE
export CLIENTS_TABLE="${CLIENTS_TABLE:-oauth-clients}" TOKENS_TABLE="${TOKENS_TABLE:-oauth-tokens}"

log "building oauth-admin and the token function (the first build takes a few minutes)"
step cargo build --features admin --bin oauth-admin || die "cargo build failed"
step cargo build --bin token || die "cargo build failed"

admin() { cargo run --quiet --features admin --bin oauth-admin -- "$@"; }
step admin create-tables >&2 || die "oauth-admin create-tables failed"
creds="$(admin create-client --name demo --scope quotes:read --json)" ||
  die "oauth-admin create-client failed"
# The id and secret are [a-z0-9] and [A-Za-z0-9]: no quoting or URL-encoding needed.
read -r CLIENT_ID CLIENT_SECRET < <(
  "$PYTHON" -c 'import json, sys; c = json.load(sys.stdin); print(c["client_id"], c["client_secret"])' <<<"$creds"
) || die "cannot read oauth-admin's output"
[[ -n "$CLIENT_ID" && -n "$CLIENT_SECRET" ]] || die "cannot read oauth-admin's output"
CURL_LINE="curl -s -u '$CLIENT_ID:$CLIENT_SECRET' -d grant_type=client_credentials $URL"

# A signing key (sealed by moto's KMS) and a client whose access tokens are JWTs.
step admin create-signing-key >&2 || die "oauth-admin create-signing-key failed"
jwt_creds="$(admin create-client --name demo-jwt --scope quotes:read --token-format jwt --json)" ||
  die "oauth-admin create-client (jwt) failed"
read -r JWT_CLIENT_ID JWT_CLIENT_SECRET < <(
  "$PYTHON" -c 'import json, sys; c = json.load(sys.stdin); print(c["client_id"], c["client_secret"])' <<<"$jwt_creds"
) || die "cannot read oauth-admin's output"
JWKS_URL="${URL%/oauth}/.well-known/jwks.json"

cat <<EOF

Demo client (scope quotes:read), in the local DynamoDB:
  client_id:     $CLIENT_ID
  client_secret: $CLIENT_SECRET

Get a token:
  $CURL_LINE

Demo JWT client (RS256 access tokens, keys at $JWKS_URL):
  curl -s -u '$JWT_CLIENT_ID:$JWT_CLIENT_SECRET' -d grant_type=client_credentials $URL

EOF

# --- The function ----------------------------------------------------------------------
log "starting cargo lambda watch on $URL"
# --bin token: the crate has several binaries, and with one named the plain /oauth path
# reaches it (otherwise only /lambda-url/<bin>/oauth would). Its logs go to stderr.
proc_start cargo lambda watch -A 127.0.0.1 -P "$DEV_PORT" --bin token >&2
WATCH_PID=$!

log "waiting for the function to answer (its first request compiles it)"
STATUS_FILE="$(mktemp "${TMPDIR:-/tmp}/oauth-dev-status.XXXXXX")"
deadline=$(($(date +%s) + READY_TIMEOUT))
code=000
failures=0 # HTTP 500s in a row: the function fails, or cargo-lambda cannot read its answers
while :; do
  kill -0 "$WATCH_PID" 2>/dev/null || die "cargo lambda watch exited"
  step curl -s -o /dev/null -w '%{http_code}' --max-time 300 \
    -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials "$URL" >"$STATUS_FILE" || true
  code="$(cat "$STATUS_FILE")"
  [[ "$code" == 200 ]] && break
  if [[ "$code" == 500 ]]; then
    failures=$((failures + 1))
    ((failures < 120)) ||
      die "the function answered HTTP 500 $failures times in a row: see its log above"
  else
    failures=0
  fi
  (($(date +%s) < deadline)) ||
    die "no token from $URL within ${READY_TIMEOUT}s (last HTTP status $code)"
  sleep 1
done

cat <<EOF
oauth dev server ready at $URL (Ctrl-C stops it)
  $CURL_LINE
EOF

rc=0
wait "$WATCH_PID" || rc=$?
WATCH_PID=""
# cargo-lambda leads its own process group: Ctrl-C reaches this script, whose cleanup
# stops it; here it exited on its own.
((rc == 0)) || die "cargo lambda watch exited (status $rc)"
log "the function server stopped"
