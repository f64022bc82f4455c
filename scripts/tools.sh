#!/usr/bin/env bash
# Installs the external tools that the tests and the dev command need. Safe to
# run again at any time (idempotent).
#
#   scripts/tools.sh
#
# - Python tools (moto_server, cargo-lambda + zig, sam, cfn-lint, pytest,
#   authlib, requests-oauthlib, boto3 ...) go into <repo>/.tools/venv, pinned
#   by scripts/requirements-tools.txt. They are reinstalled only when that file
#   changed since the last successful install (sha256 in .tools/), or when the
#   venv or one of its tools is missing.
# - Makes sure the rustfmt and clippy components exist for the active toolchain.
#
# Fast path (all present): prints nothing and takes well under a second.
# Callers then use the tools by path, or put them on PATH:
#   export PATH="$ROOT/.tools/venv/bin:$PATH"   # makes `cargo lambda`, `sam` work
#
# Env: TOOLS_PYTHON  interpreter used to create the venv (default: python3).
# To start over: rm -rf .tools && scripts/tools.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
VENV="$TOOLS/venv"
REQ="$ROOT/scripts/requirements-tools.txt"
STAMP="$TOOLS/requirements.sha256"
PYTHON="${TOOLS_PYTHON:-python3}"
REQUIRED_BINS=(moto_server cargo-lambda sam cfn-lint pytest)

log() { printf 'tools.sh: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

cd "$ROOT" # so a rust-toolchain file in the repo picks the toolchain
[[ -f "$REQ" ]] || die "missing $REQ"
mkdir -p "$TOOLS"

# One run at a time (e.g. two scripts bootstrapping in parallel).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$TOOLS/.lock"
  flock 9
fi

venv_ok() {
  [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c '' >/dev/null 2>&1
}

bins_ok() {
  local b
  for b in "${REQUIRED_BINS[@]}"; do
    [[ -x "$VENV/bin/$b" ]] || return 1
  done
}

make_venv() {
  log "creating $VENV"
  rm -rf "$VENV" "$STAMP" # a broken or half-made venv is thrown away
  "$PYTHON" -m venv "$VENV" || die "'$PYTHON -m venv' failed (on Debian: apt-get install python3-venv)"
}

pip_install() {
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-input -r "$REQ" ||
    die "pip install failed"
}

# --- Python venv -------------------------------------------------------------
if ! venv_ok; then
  command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (set TOOLS_PYTHON)"
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
    die "$("$PYTHON" --version 2>&1) is too old: aws-sam-cli needs Python >= 3.10 (set TOOLS_PYTHON)"
  make_venv
fi

want="$(sha256sum "$REQ" | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"

if [[ "$want" != "$have" ]] || ! bins_ok; then
  log "installing tools from scripts/requirements-tools.txt (takes a few minutes the first time)"
  rm -f "$STAMP"
  pip_install
  if ! bins_ok; then
    # A package counts as installed but its script is gone: pip won't redo it.
    log "tools still missing after install; recreating $VENV"
    make_venv
    pip_install
  fi
  if ! out="$("$VENV/bin/python" -m pip check --disable-pip-version-check 2>&1)"; then
    printf '%s\n' "$out" >&2
    die "pip check found conflicting requirements"
  fi
  for b in "${REQUIRED_BINS[@]}"; do
    [[ -x "$VENV/bin/$b" ]] || die "$VENV/bin/$b missing after install"
  done
  printf '%s\n' "$want" >"$STAMP.tmp"
  mv -f "$STAMP.tmp" "$STAMP"
  log "tools installed in $VENV"
fi

# --- Rust components ---------------------------------------------------------
rust_components_ok() {
  cargo fmt --version >/dev/null 2>&1 && cargo clippy --version >/dev/null 2>&1
}

if ! rust_components_ok; then
  command -v cargo >/dev/null 2>&1 || die "cargo not found (install Rust with rustup)"
  if command -v rustup >/dev/null 2>&1; then
    log "adding rustfmt and clippy"
    rustup component add rustfmt clippy >&2 || true # already present is fine
  fi
  rust_components_ok || die "rustfmt/clippy missing and 'rustup component add rustfmt clippy' did not add them"
fi
