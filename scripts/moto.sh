# shellcheck shell=bash
# Helpers to run a local moto server (fake AWS: DynamoDB etc.). Source this
# file from a bash script; it does not change shell options or traps.
#
#   source "$ROOT/scripts/moto.sh"
#   moto_start 8123 || exit 1        # starts moto, waits until it answers
#   trap moto_stop EXIT              # recommended: never leave moto behind
#   ... use "$MOTO_ENDPOINT" (http://127.0.0.1:8123) as the AWS endpoint ...
#   moto_stop
#
# Variables set by moto_start (cleared by moto_stop):
#   MOTO_PID       pid of the moto_server process (a child of this shell, leading its
#                  own process group)
#   MOTO_PORT      its port
#   MOTO_ENDPOINT  http://127.0.0.1:$MOTO_PORT
#   MOTO_LOG       its log, .tools/moto-$MOTO_PORT.log
# Tunable: MOTO_START_TIMEOUT seconds to wait for it to answer (default 15); MOTO_SERVER,
# the launcher to run (default scripts/moto_server.py; bench/load/moto_fast.py wraps it).
#
# Needs scripts/tools.sh to have run (.tools/venv/bin/moto_server) and curl.
# Call moto_start in the current shell, not inside $(...) or a pipeline:
# moto_stop can only wait for a child of the shell that started it.
# The clients need dummy credentials and a region, e.g.
#   AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1

MOTO_SH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOTO_PID="${MOTO_PID:-}"
# shellcheck source=scripts/lib/proc.sh
source "$MOTO_SH_ROOT/scripts/lib/proc.sh"

_moto_err() { printf 'moto.sh: error: %s\n' "$*" >&2; }

# True when something accepts TCP connections on 127.0.0.1:$1.
_moto_port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# HTTP status of POST /moto-api/reset (200 from a running moto), or 000.
_moto_probe() {
  curl -s -o /dev/null -w '%{http_code}' --noproxy '*' --max-time 2 \
    -X POST "http://127.0.0.1:$1/moto-api/reset" 2>/dev/null || true
}

# moto_start PORT: starts moto_server on 127.0.0.1:PORT in the background and
# returns once it answers, or returns 1 with a message (and nothing left running).
moto_start() {
  local port="${1:-}"
  local bin="$MOTO_SH_ROOT/.tools/venv/bin/moto_server"
  local timeout="${MOTO_START_TIMEOUT:-15}"

  if [[ ! "$port" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
    _moto_err "usage: moto_start PORT (got '${port}')"
    return 1
  fi
  if [[ -n "$MOTO_PID" ]] && kill -0 "$MOTO_PID" 2>/dev/null; then
    _moto_err "moto already started by this shell (pid $MOTO_PID, port ${MOTO_PORT:-?}); call moto_stop first"
    return 1
  fi
  if [[ ! -x "$bin" ]]; then
    _moto_err "$bin not found; run scripts/tools.sh first"
    return 1
  fi
  if ! command -v curl >/dev/null 2>&1; then
    _moto_err "curl not found (apt-get install curl)"
    return 1
  fi
  if _moto_port_busy "$port"; then
    _moto_err "port $port on 127.0.0.1 is already in use; cannot start moto there"
    return 1
  fi

  mkdir -p "$MOTO_SH_ROOT/.tools"
  MOTO_PORT="$port"
  MOTO_ENDPOINT="http://127.0.0.1:$port"
  MOTO_LOG="$MOTO_SH_ROOT/.tools/moto-$port.log"

  # scripts/moto_server.py: moto_server serialized, so conditional writes stay atomic.
  proc_start "$MOTO_SH_ROOT/.tools/venv/bin/python" "${MOTO_SERVER:-$MOTO_SH_ROOT/scripts/moto_server.py}" \
    -H 127.0.0.1 -p "$port" >"$MOTO_LOG" 2>&1 </dev/null || return 1
  MOTO_PID=$!

  local deadline=$((SECONDS + timeout))
  while :; do
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then
      wait "$MOTO_PID" 2>/dev/null || true
      if grep -qi 'address already in use' "$MOTO_LOG" 2>/dev/null; then
        _moto_err "port $port on 127.0.0.1 is already in use; moto exited (log: $MOTO_LOG)"
      else
        _moto_err "moto_server exited during startup on port $port; last lines of $MOTO_LOG:"
        tail -n 20 "$MOTO_LOG" >&2 2>/dev/null || true
      fi
      MOTO_PID=""
      return 1
    fi
    if [[ "$(_moto_probe "$port")" == 200 ]]; then
      return 0
    fi
    if ((SECONDS >= deadline)); then
      _moto_err "moto_server did not answer on $MOTO_ENDPOINT within ${timeout}s; stopping it (log: $MOTO_LOG)"
      tail -n 20 "$MOTO_LOG" >&2 2>/dev/null || true
      moto_stop
      return 1
    fi
    sleep 0.2
  done
}

# moto_stop: stops the moto started by moto_start (its process group, scripts/lib/proc.sh:
# TERM, up to 5 s, then KILL) and waits for it. No-op when none is running. Safe to call
# twice (e.g. in a trap).
moto_stop() {
  local pid="${MOTO_PID:-}"
  MOTO_PID=""
  proc_stop "$pid" 5
  unset MOTO_PORT MOTO_ENDPOINT MOTO_LOG
  return 0
}
