#!/usr/bin/env bash
# Serves the token function over HTTP on loopback, as the client-library tests need it:
# `cargo lambda watch` (a Function URL emulator, payload 2.0), with the function built
# first so that a compile error shows here rather than as a request that never answers.
#
#   CLIENTS_TABLE=... TOKENS_TABLE=... AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8000 \
#     scripts/serve-function.sh [PORT]
#
# - PORT: where to listen on 127.0.0.1 (default: a free port).
# - Prints one line `ready http://127.0.0.1:PORT/oauth` on stdout once the function answers
#   (the first answer can take minutes on a fresh machine: it compiles), then serves until
#   its standard input closes, or until SIGTERM/SIGINT/SIGHUP. Either way it stops
#   `cargo lambda watch` and the function (their process group, scripts/lib/proc.sh) and
#   waits for them.
#   A test starts it with a pipe on stdin: when the test process exits, however it exits,
#   the pipe closes and nothing is left behind. From a terminal, Ctrl-C stops it.
# - Exits 1 with a message on stderr (and the end of the server's log) when the tools are
#   missing, the build fails, or the function does not answer within SERVE_TIMEOUT seconds
#   (default 600) or crashes at start-up.
# - The function reads the variables above from the environment, which `cargo lambda
#   watch` passes on. AWS_REGION and dummy credentials are supplied when unset and the
#   endpoint is on loopback. Its log (and cargo's) goes to SERVE_LOG
#   (default .tools/serve-function-PORT.log).
# - `--ignore-changes`: an edit to src/ during a test run does not rebuild and restart
#   the function under the tests' feet.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Started by a test under `cargo test`, this shell inherits what cargo sets for the test
# (CARGO_MANIFEST_DIR, CARGO_PKG_NAME, OUT_DIR, ...). Build scripts watch some of them
# (ring's does), so handing them on to cargo here would rebuild ring and all that depends
# on it, and the next ordinary build would rebuild it all back.
while IFS= read -r var; do
  case "$var" in
    CARGO_MANIFEST_* | CARGO_PKG_* | CARGO_CRATE_NAME | CARGO_BIN_NAME | \
      CARGO_PRIMARY_PACKAGE | CARGO_TARGET_TMPDIR | CARGO_RUSTC_CURRENT_DIR | OUT_DIR)
      unset "$var"
      ;;
  esac
done < <(compgen -e)

log() { printf 'serve-function.sh: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

export PATH="$ROOT/.tools/venv/bin:$PATH"
command -v cargo >/dev/null 2>&1 || die "cargo not found (install Rust with rustup)"
[[ -x "$ROOT/.tools/venv/bin/cargo-lambda" ]] ||
  die "$ROOT/.tools/venv/bin/cargo-lambda is missing: run scripts/tools.sh"
command -v curl >/dev/null 2>&1 || die "curl not found (apt-get install curl)"

for var in CLIENTS_TABLE TOKENS_TABLE AWS_ENDPOINT_URL_DYNAMODB; do
  [[ -n "${!var:-}" ]] || die "$var is not set (the function needs it)"
done
if [[ "$AWS_ENDPOINT_URL_DYNAMODB" =~ ^https?://(127\.0\.0\.1|localhost|\[::1\])(:|/|$) ]]; then
  export AWS_REGION="${AWS_REGION:-us-east-1}"
  export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}"
  export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}"
fi

port="${1:-}"
if [[ -z "$port" ]]; then
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
fi
[[ "$port" =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)) || die "bad port '$port'"
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  die "port $port on 127.0.0.1 is already in use"
fi
url="http://127.0.0.1:$port/oauth"
timeout="${SERVE_TIMEOUT:-600}"
mkdir -p "$ROOT/.tools"
SERVE_LOG="${SERVE_LOG:-$ROOT/.tools/serve-function-$port.log}"
: >"$SERVE_LOG"

# The same build `cargo lambda watch` runs (`cargo run --bin token`), done first so that
# its errors are reported here.
log "building the token function (cargo build --bin token)"
cargo build --bin token >>"$SERVE_LOG" 2>&1 || {
  tail -n 40 "$SERVE_LOG" >&2
  die "cargo build --bin token failed (log: $SERVE_LOG)"
}

# shellcheck source=scripts/lib/proc.sh
source "$ROOT/scripts/lib/proc.sh"
pid=""
stop() {
  local p="$pid"
  pid=""
  proc_stop "$p" 10
}
trap 'stop; exit 0' TERM INT HUP
trap stop EXIT

# `--bin token` makes the token function the lone one, so `/oauth` reaches it (with
# several, only `/lambda-url/token/oauth` would).
proc_start cargo lambda watch -A 127.0.0.1 -P "$port" --bin token --ignore-changes \
  >>"$SERVE_LOG" 2>&1 </dev/null
pid=$!

fail() {
  log "error: $*"
  tail -n 40 "$SERVE_LOG" >&2
  log "(log: $SERVE_LOG)"
  exit 1
}

# Ready when a POST without parameters gets the documented answer (400, invalid_request
# for grant_type), which needs no DynamoDB.
deadline=$((SECONDS + timeout))
while :; do
  kill -0 "$pid" 2>/dev/null || fail "cargo lambda watch exited"
  # A function that fails at start-up (a bad variable, say) leaves requests hanging.
  grep -q 'command exited\|command killed' "$SERVE_LOG" && fail "the function exited at start-up"
  answer="$(curl -s --noproxy '*' --max-time 20 -X POST "$url" 2>/dev/null || true)"
  [[ "$answer" == *'"error":"invalid_request"'*'grant_type'* ]] && break
  ((SECONDS < deadline)) || fail "the function did not answer on $url within ${timeout}s"
  sleep 1
done

echo "ready $url"
log "serving $url (log: $SERVE_LOG); close stdin or send SIGTERM to stop"

# Serve until stdin closes (read returns 1; >128 is the timeout) or the server dies.
while kill -0 "$pid" 2>/dev/null; do
  rc=0
  read -r -t 1 _ || rc=$?
  ((rc == 0 || rc > 128)) || break
done
if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
  fail "cargo lambda watch exited while serving"
fi
exit 0
