#!/usr/bin/env bash
# Scans template.yaml with checkov (CloudFormation checks) and fails unless it finds zero
# failed checks, no parsing error, and every skipped check carries a reason:
#
#   scripts/checkov.sh [TEMPLATE]        # default: template.yaml
#
# A check that does not fit this service is skipped in the template itself, on the
# resource, with a one-line reason:
#
#   Metadata:
#     checkov:
#       skip:
#         - id: CKV_AWS_117
#           comment: why it does not apply here
#
# Nothing is skipped on the command line. checkov lives in a virtualenv of its own,
# .tools/checkov-venv, pinned by scripts/requirements-checkov.txt (its pins conflict with
# the SAM CLI's), installed on first use (about 40 s) and again when that file changes.
# It runs offline: --skip-download keeps it from asking its vendor's API for guideline
# links and policies (which only add URLs to the report). A scan takes about 6 s.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TEMPLATE="${1:-template.yaml}"
VENV="$ROOT/.tools/checkov-venv"
REQ="$ROOT/scripts/requirements-checkov.txt"
STAMP="$VENV/requirements.sha256"
PYTHON="${TOOLS_PYTHON:-python3}"

log() { printf 'checkov.sh: %s\n' "$*" >&2; }

mkdir -p "$ROOT/.tools"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [[ "$(cat "$STAMP" 2>/dev/null || true)" != "$want" || ! -x "$VENV/bin/checkov" ]]; then
  log "installing checkov into $VENV (scripts/requirements-checkov.txt)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-input -r "$REQ"
  "$VENV/bin/python" -m pip check --disable-pip-version-check >/dev/null
  printf '%s\n' "$want" >"$STAMP"
fi

report="$(mktemp)"
trap 'rm -f "$report"' EXIT
# checkov exits 1 when a check fails; the verdict below is taken from its JSON report.
"$VENV/bin/checkov" -f "$TEMPLATE" --framework cloudformation --compact --skip-download \
  --output json >"$report" || true

"$VENV/bin/python" - "$report" "$TEMPLATE" <<'EOF'
import json
import sys

path, template = sys.argv[1], sys.argv[2]
try:
    with open(path) as f:
        report = json.load(f)
except ValueError:
    with open(path) as f:
        sys.exit(f"checkov.sh: checkov did not produce a report for {template}:\n{f.read()[-4000:]}")
if isinstance(report, list):  # one entry per framework
    report = next((r for r in report if r.get("check_type") == "cloudformation"), {})
summary = report.get("summary", {})
results = report.get("results", {})
problems = []
for r in results.get("failed_checks", []):
    problems.append(f"FAILED  {r['check_id']} {r['resource']}: {r['check_name']}")
for r in results.get("skipped_checks", []):
    comment = (r.get("check_result") or {}).get("suppress_comment") or ""
    line = f"skipped {r['check_id']} {r['resource']}: {comment}"
    print(line)
    if not comment.strip() or comment == "No comment provided":
        problems.append(f"{r['check_id']} on {r['resource']} is skipped without a reason (add a comment)")
for e in results.get("parsing_errors", []):
    problems.append(f"parsing error: {e}")
if not summary.get("resource_count"):
    problems.append("no resource was scanned")
print(
    f"checkov {summary.get('checkov_version', '?')} on {template}: "
    f"{summary.get('passed', 0)} passed, {summary.get('failed', 0)} failed, "
    f"{summary.get('skipped', 0)} skipped, "
    f"{summary.get('resource_count', 0)} resources"
)
if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
EOF
