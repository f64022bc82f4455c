# shellcheck shell=bash
# Starting and stopping background processes, by PID and process group only (never by
# name). Source it from a bash script; it sets no shell options or traps.
#
#   source "$ROOT/scripts/lib/proc.sh"
#   proc_start CMD [ARG...] >log 2>&1 </dev/null   # CMD in the background, leading a
#   pid=$!                                          # process group of its own (PGID = PID)
#   ...
#   proc_stop "$pid" [SECONDS] [NAME]               # TERM, wait, KILL, reap
#
# proc_start runs CMD under `setsid` (a session and process group of its own), so that
# proc_stop reaches every process it starts, and a signal meant for the script's own group
# (Ctrl-C in a terminal) leaves it to the script's cleanup. Where there is no setsid
# (macOS), CMD runs in the script's group and proc_stop stops it and its descendants by PID.
# Call both in the shell that owns the process, not in $(...) or a pipeline (only the
# parent can wait for it), from a script: with job control on (an interactive shell),
# a background job already leads a group, setsid forks, and $! would not be CMD.
#
# proc_stop PID [SECONDS] [NAME]: SIGTERM to PID's group when PID leads one (to PID alone
# otherwise), up to SECONDS (default 10) for the group to empty, then SIGKILL; PID is
# reaped (no "Terminated" line). Descendants that had left the group (some supervisors
# start their children in groups of their own) get the same with 2 s. With NAME, a
# process that has to be killed is reported on stderr. An empty PID is a no-op, so it is
# safe in a trap and when called twice.

# PIDs of every descendant of $1 (`ps -A -o pid=,ppid=` works on Linux and BSD).
_proc_descendants() {
  local table queue=("$1") pid child ppid
  table="$(ps -A -o pid=,ppid= 2>/dev/null)" || return 0
  while ((${#queue[@]})); do
    pid="${queue[0]}"
    queue=("${queue[@]:1}")
    while read -r child ppid; do
      if [[ "$ppid" == "$pid" ]]; then
        echo "$child"
        queue+=("$child")
      fi
    done <<<"$table"
  done
}

# _proc_term_kill TENTHS TARGET...: SIGTERM to the targets (PIDs, or -PGID for a group),
# then up to TENTHS tenths of a second for all to be gone, then SIGKILL to all. Returns 1
# when it came to SIGKILL.
_proc_term_kill() {
  local tenths="$1" i t
  shift
  (($#)) || return 0
  kill -TERM -- "$@" 2>/dev/null || true
  for ((i = 0; i < tenths; i++)); do
    for t in "$@"; do
      kill -0 -- "$t" 2>/dev/null && {
        sleep 0.1
        continue 2
      }
    done
    return 0
  done
  for t in "$@"; do
    kill -KILL -- "$t" 2>/dev/null || true
  done
  return 1
}

proc_start() {
  if [[ $- == *m* ]]; then
    printf 'proc.sh: error: proc_start needs job control off (run it from a script)\n' >&2
    return 1
  fi
  if command -v setsid >/dev/null 2>&1; then
    setsid "$@" &
  else
    "$@" &
  fi
}

proc_stop() {
  local pid="${1:-}" limit="${2:-10}" name="${3:-}" target left=() p
  [[ -n "$pid" ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    mapfile -t left < <(_proc_descendants "$pid")
    target="$pid"
    if [[ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" == "$pid" ]]; then
      target="-$pid"
    fi
    if ! _proc_term_kill $((limit * 10)) "$target" && [[ -n "$name" ]]; then
      printf 'proc.sh: %s (pid %s) did not stop within %s s; killed\n' "$name" "$pid" "$limit" >&2
    fi
  fi
  wait "$pid" 2>/dev/null || true
  # Descendants still alive had left the group; only those, so that a PID reused since is
  # not signalled for nothing.
  local alive=()
  for p in "${left[@]}"; do
    kill -0 "$p" 2>/dev/null && alive+=("$p")
  done
  _proc_term_kill 20 "${alive[@]}" || true
  return 0
}
