#!/usr/bin/env bash
# Checks the SAM template the way a deployment would meet it, offline, and fails on any
# finding (errors and warnings alike):
#
#   1. sam validate --lint    SAM's own schema check plus cfn-lint on the transformed template
#   2. cfn-lint template.yaml every rule, warnings included (exit status 4 counts as failure)
#   3. checkov                scripts/checkov.sh: zero failed checks, and every check skipped
#                             in the template (Metadata: checkov: skip:) with a reason
#   4. sam build              compiles each function's binary for arm64 (cargo-lambda + zig)
#                             into .aws-sam/build, exactly what `sam deploy` uploads
#
#   scripts/check-template.sh
#
# Installs its tools first (scripts/tools.sh) and the rustup target for arm64 when missing.
# Timing on a 2-core machine: validate + lint 10-20 s; checkov about 6 s (and about a
# minute to install it into .tools/checkov-venv the first time); sam build about 10 min
# from a cold target/ (a release build of every dependency for aarch64) and 4-6 min when
# only this crate's sources changed (it is rebuilt in release mode; measured under load). The build
# uses the project's target/ (target/aarch64-unknown-linux-gnu/release, and
# target/release for build scripts), so it waits while another `cargo build --release`
# holds that directory's lock; CARGO_TARGET_DIR=<dir> gives it a directory of its own.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

scripts/tools.sh
export PATH="$ROOT/.tools/venv/bin:$PATH"
export SAM_CLI_TELEMETRY=0

step() { printf '== %s\n' "$*"; }

# cargo-lambda cross-compiles with zig but needs the Rust standard library for the target.
TARGET=aarch64-unknown-linux-gnu
if command -v rustup >/dev/null 2>&1; then
  if ! rustup target list --installed | grep -qx "$TARGET"; then
    step "rustup target add $TARGET"
    rustup target add "$TARGET"
  fi
elif ! rustc --print target-libdir --target "$TARGET" >/dev/null 2>&1; then
  echo "check-template.sh: the $TARGET standard library is missing and rustup is not available" >&2
  exit 1
fi

step "sam validate --lint"
sam validate --lint --template-file template.yaml

step "cfn-lint template.yaml"
cfn-lint -- template.yaml

step "checkov"
scripts/checkov.sh template.yaml

# </dev/null: sam must never wait on a prompt in CI.
step "sam build"
sam build --template-file template.yaml --build-dir .aws-sam/build </dev/null

# The build must hold an arm64 `bootstrap` for every function of the template.
mapfile -t functions < <(
  "$ROOT/.tools/venv/bin/python" - <<'EOF'
from samtranslator.yaml_helper import yaml_parse
with open("template.yaml") as f:
    template = yaml_parse(f.read())
for name, resource in template.get("Resources", {}).items():
    if resource.get("Type") == "AWS::Serverless::Function":
        print(name)
EOF
)
if ((${#functions[@]} == 0)); then
  echo "check-template.sh: no AWS::Serverless::Function found in template.yaml" >&2
  exit 1
fi
for fn in "${functions[@]}"; do
  artifact=".aws-sam/build/$fn/bootstrap"
  if [[ ! -x "$artifact" ]]; then
    echo "check-template.sh: $artifact is missing after sam build" >&2
    exit 1
  fi
  if command -v file >/dev/null 2>&1 && ! file "$artifact" | grep -q 'ARM aarch64'; then
    echo "check-template.sh: $artifact is not an arm64 executable: $(file -b "$artifact")" >&2
    exit 1
  fi
  echo "$artifact: arm64, $(du -h "$artifact" | cut -f1)"
done
step "template checks passed"
