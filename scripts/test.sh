#!/usr/bin/env bash
# Runs every test, all three tiers: installs the tools (scripts/tools.sh), starts one moto
# server on loopback for the whole run, then the Rust tests with every tier's feature
# (`e2e-tests` brings `dynamodb-tests`) and the client-library tests.
# `make test` calls this; so does .ci/run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

scripts/tools.sh
export PATH="$ROOT/.tools/venv/bin:$PATH"

# shellcheck source=scripts/moto.sh
source scripts/moto.sh
port="${OAUTH_TEST_DYNAMODB_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
moto_start "$port"
trap moto_stop EXIT
export OAUTH_TEST_DYNAMODB_ENDPOINT="$MOTO_ENDPOINT"

cargo test --all-targets --features e2e-tests "$@"
cargo test --doc

# The client libraries (tests/clients) against the function served over HTTP.
PYTHONDONTWRITEBYTECODE=1 "$ROOT/.tools/venv/bin/pytest" -q tests/clients
