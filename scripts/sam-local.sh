#!/usr/bin/env bash
# `sam local invoke` and `sam local start-api` on this machine, offline, against a local
# DynamoDB (moto):
#
#   scripts/sam-local.sh          # or `make sam-local`: build, invoke every event, check, stop
#   scripts/sam-local.sh serve    # the same setup, then `sam local start-api` on
#                                 # 127.0.0.1:${SAM_LOCAL_API_PORT:-3000} until Ctrl-C
#
# What it does, on a Debian machine as root (what CI is), each step skipped when already
# done (so on a machine with Docker running and the image below pulled, it needs neither
# root nor apt):
#
#   1. apt-get install docker.io iptables debootstrap, when needed and missing.
#   2. Starts dockerd in the background when no engine answers, and stops it (by PID and
#      process group) when it exits. An engine that was already running is used and left
#      alone.
#   3. Builds the base image SAM runs provided.al2023 functions on, once, and keeps it:
#      a minimal Debian root (debootstrap --variant=minbase --include=ca-certificates, from
#      the Debian mirror in apt's sources), imported as
#      public.ecr.aws/lambda/provided:al2023-<arch>. SAM adds its emulator on top locally.
#      THIS STAND-IN IS DEBIAN, NOT AMAZON LINUX 2023 (see "What the stand-in does not
#      test" in docs/DEPLOY.md). An image of that name that already exists, such as the
#      real one pulled on a machine with registry access, is used as it is.
#   4. sam build for this machine's architecture (x86_64 here: the template's
#      Architecture parameter) into .aws-sam/build-local, leaving .aws-sam/build (arm64,
#      what `sam deploy` uploads) alone.
#   5. A DynamoDB for the functions: moto, listening only on the host's address on a
#      Docker network of its own (`oauth-sam-local`, --internal: no route out), which the
#      function containers join; then the tables and the fixed test client of events/
#      (oauth-admin create-tables and import-client, as tests/events.rs does).
#   6. check: `sam local invoke` of every event in events/, each answer checked against
#      events/expectations.json (scripts/sam-local-check.py), then `sam local start-api`
#      on 127.0.0.1 and, through it, the whole client-library suite (pytest tests/clients:
#      authlib, requests-oauthlib, curl, PyJWT; OAUTH_TEST_BASE_URL and the moto endpoint
#      and tables, see tests/clients/conftest.py) and what only the gateway's routes do
#      (GET /whoami through the Lambda authorizer before and after revoking, a wrong
#      method, the metadata document: scripts/sam-local-check.py api).
#
# Every sam local command gets --skip-pull-image (no registry is asked for anything),
# --docker-network oauth-sam-local, the template parameters Architecture and
# DynamoDbEndpoint, and --env-vars with the table names and AWS_ENDPOINT_URL_DYNAMODB.
# Why not moto on 127.0.0.1 with --docker-network host: SAM CLI (1.170) does not give its
# containers the host's network for "host" (it only skips connecting them to a network),
# so a function's 127.0.0.1 is its own. Why --env-vars for the endpoint as well as the
# parameter: SAM's local emulation resolves Ref but not Fn::If in environment variables
# (it passes "" for the template's `!If [HasDynamoDbEndpoint, ...]`); the template declares
# the variable, which is what lets --env-vars set it. SAM passes the dummy AWS credentials
# and region of its own environment into the containers.
#
# Env: SAM_LOCAL_API_PORT (serve: 3000; check: a free port), SAM_LOCAL_DEBIAN_MIRROR (a
# Debian mirror URL instead of the one in apt's sources), SAM_LOCAL_SUITE (the Debian
# suite, default this machine's codename, else bookworm).
#
# Timing on a 2-core machine (measured while other builds ran): engine start about 2 s;
# stand-in image 40-80 s the first time; sam build of both functions 12-22 min from a
# cold target/ (release, x86_64; target/x86_64-unknown-linux-gnu), seconds when nothing
# changed; the 18 events about 105 s (three at a time, 9-23 s each); start-api about 55 s
# (11 s to listen, the client-library suite about 35 s, the gateway checks 10 s). With
# everything built, the whole script takes about 3 minutes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

MODE="${1:-check}"
case "$MODE" in
check | serve) ;;
-h | --help)
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit 0
  ;;
*)
  echo "usage: scripts/sam-local.sh [check|serve]" >&2
  exit 2
  ;;
esac

STATE="$ROOT/.tools/sam-local"
NETWORK=oauth-sam-local
BUILD_DIR="$ROOT/.aws-sam/build-local"
CLIENTS_TABLE=oauth-clients
TOKENS_TABLE=oauth-tokens
mkdir -p "$STATE"

log() { printf 'sam-local.sh: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
step() { printf '== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

case "$(uname -m)" in
x86_64 | amd64) ARCH=x86_64 ;;
aarch64 | arm64) ARCH=arm64 ;;
*) die "unsupported machine $(uname -m): Lambda runs x86_64 and arm64 only" ;;
esac
IMAGE="public.ecr.aws/lambda/provided:al2023-$ARCH"
STAND_IN_MARK="Debian stand-in for Amazon Linux 2023 (scripts/sam-local.sh)"

# ---------------------------------------------------------------- cleanup, by PID and group
# shellcheck source=scripts/lib/proc.sh
source scripts/lib/proc.sh
DOCKERD_PID=""
API_PID=""
MOTO_PID=""
NETWORK_CREATED=""
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  proc_stop "$API_PID" 20 "sam local start-api"
  API_PID=""
  proc_stop "$MOTO_PID" 10 moto
  MOTO_PID=""
  if [[ -n "$NETWORK_CREATED" ]]; then
    docker network rm "$NETWORK" >/dev/null 2>&1 || log "could not remove the Docker network $NETWORK"
    NETWORK_CREATED=""
  fi
  if [[ -n "$DOCKERD_PID" ]]; then
    log "stopping the dockerd this script started (pid $DOCKERD_PID)"
    proc_stop "$DOCKERD_PID" 30 dockerd
    DOCKERD_PID=""
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- 1. packages
# install_missing CMD:PACKAGE...: apt-get installs the packages whose command is missing.
install_missing() {
  local pair packages=()
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || packages+=("${pair#*:}")
  done
  ((${#packages[@]})) || return 0
  mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)
  ((EUID == 0)) || die "missing ${packages[*]}; run as root, or install them first (apt-get install ${packages[*]})"
  command -v apt-get >/dev/null 2>&1 || die "missing ${packages[*]} and no apt-get to install them"
  step "apt-get install ${packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # docker.io's post-install tries to start the service through systemd, which a
  # container may not have; the engine is started below either way.
  apt-get install -y -qq "${packages[@]}" >"$STATE/apt-get.log" 2>&1 ||
    {
      tail -n 30 "$STATE/apt-get.log" >&2
      die "apt-get install ${packages[*]} failed"
    }
}

# ---------------------------------------------------------------- 2. the engine
if docker info >/dev/null 2>&1; then
  log "using the container engine already running ($(docker info --format '{{.ServerVersion}}' 2>/dev/null))"
else
  install_missing docker:docker.io dockerd:docker.io iptables:iptables
  ((EUID == 0)) || die "no container engine answers and only root can start dockerd here"
  step "starting dockerd"
  proc_start dockerd >"$STATE/dockerd.log" 2>&1 </dev/null
  DOCKERD_PID=$!
  deadline=$((SECONDS + 60))
  until docker info >/dev/null 2>&1; do
    if ! kill -0 "$DOCKERD_PID" 2>/dev/null; then
      tail -n 30 "$STATE/dockerd.log" >&2
      DOCKERD_PID=""
      die "dockerd exited during start-up (log: $STATE/dockerd.log)"
    fi
    ((SECONDS < deadline)) || {
      tail -n 30 "$STATE/dockerd.log" >&2
      die "dockerd did not answer within 60 s (log: $STATE/dockerd.log)"
    }
    sleep 0.5
  done
  log "dockerd $(docker info --format '{{.ServerVersion}}') started (pid $DOCKERD_PID, log $STATE/dockerd.log); it is stopped on exit"
fi

# ---------------------------------------------------------------- 3. the base image
debian_mirror() {
  # The first `deb` source of apt's configuration (one-line or deb822 format) that serves
  # the suite itself with its main component.
  python3 - "$1" <<'EOF'
import glob, sys
suite = sys.argv[1]
found = []
def consider(types, uris, suites, comps):
    if "deb" in types and suite in suites and "main" in comps:
        found.extend(u for u in uris if u.startswith(("http://", "https://")))
for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        words = [w for w in line.split("#")[0].split() if not w.startswith("[")]
        if len(words) >= 4:
            consider([words[0]], [words[1]], [words[2]], words[3:])
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in open(path).read().split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line:
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.split()
        if fields.get("enabled", ["yes"])[0] == "no":
            continue
        consider(fields.get("types", []), fields.get("uris", []),
                 fields.get("suites", []), fields.get("components", []))
print(found[0] if found else "")
EOF
}

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  comment="$(docker image inspect --format '{{.Comment}}' "$IMAGE")"
  if [[ "$comment" == *"$STAND_IN_MARK"* ]]; then
    log "$IMAGE: the cached stand-in ($comment)"
  else
    log "$IMAGE: an existing image, used as it is (not built by this script)"
  fi
else
  # shellcheck source=/dev/null
  codename="$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")"
  suite="${SAM_LOCAL_SUITE:-${codename:-bookworm}}"
  mirror="${SAM_LOCAL_DEBIAN_MIRROR:-$(debian_mirror "$suite")}"
  [[ -n "$mirror" ]] || mirror="http://deb.debian.org/debian"
  install_missing debootstrap:debootstrap
  ((EUID == 0)) || die "building the base image needs root (debootstrap); or pull the real image: docker pull $IMAGE"
  step "building the stand-in image $IMAGE: Debian $suite minbase from $mirror"
  rootfs="$STATE/rootfs"
  rm -rf "$rootfs"
  if ! debootstrap --variant=minbase --include=ca-certificates "$suite" "$rootfs" "$mirror" \
    >"$STATE/debootstrap.log" 2>&1; then
    tail -n 30 "$STATE/debootstrap.log" >&2
    die "debootstrap failed (log: $STATE/debootstrap.log)"
  fi
  # Package caches and documentation are of no use to a function.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc "$rootfs"/usr/share/man "$rootfs"/usr/share/locale
  printf '%s\n' "$STAND_IN_MARK: Debian $suite, not Amazon Linux 2023" >"$rootfs/etc/sam-local-stand-in"
  tar -C "$rootfs" --numeric-owner -c . |
    docker import \
      -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      -c 'ENV LANG=C.UTF-8' \
      -m "$STAND_IN_MARK: Debian $suite minbase" - "$IMAGE" >/dev/null
  rm -rf "$rootfs"
  log "$IMAGE built and cached in the engine's image store ($(docker image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%d MB", $1/1e6}'))"
fi
cat <<EOF
NOTE: the functions run on a stand-in for Lambda's provided.al2023 image: a Debian root,
not Amazon Linux 2023, on $ARCH only. This checks the functions' code, their events and
answers, the template's wiring (parameters, environment, routes, the authorizer) and the
build; it does not check AL2023's own libraries (glibc 2.34 there, checked below only as
the binary's symbol versions), the real Lambda sandbox or its limits, arm64 (what is
deployed), IAM permissions, or real DynamoDB (moto stands in).
EOF

# ---------------------------------------------------------------- 4. sam build
scripts/tools.sh
export PATH="$ROOT/.tools/venv/bin:$PATH"
export SAM_CLI_TELEMETRY=0

if [[ "$ARCH" == arm64 ]]; then
  TARGET=aarch64-unknown-linux-gnu
else
  TARGET=x86_64-unknown-linux-gnu
fi
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx "$TARGET"; then
  rustup target add "$TARGET"
fi

step "sam build (Architecture=$ARCH) into ${BUILD_DIR#"$ROOT"/}"
build_start=$SECONDS
sam build --template-file template.yaml --build-dir "$BUILD_DIR" \
  --parameter-overrides "Architecture=$ARCH" </dev/null
log "sam build took $((SECONDS - build_start)) s"
for fn in TokenFunction AuthorizerFunction; do
  artifact="$BUILD_DIR/$fn/bootstrap"
  [[ -x "$artifact" ]] || die "$artifact is missing after sam build"
  # Amazon Linux 2023 has glibc 2.34: the binary must not need a newer symbol version,
  # which the Debian stand-in (glibc 2.36) would not notice.
  if command -v objdump >/dev/null 2>&1; then
    newest="$(objdump -T "$artifact" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1)"
    if [[ -n "$newest" ]] && [[ "$(printf '%s\n' "${newest#GLIBC_}" 2.34 | sort -V | tail -n 1)" != 2.34 ]]; then
      die "$artifact needs $newest; Amazon Linux 2023 has glibc 2.34"
    fi
    log "$fn/bootstrap: $(file -b "$artifact" | cut -d, -f1-2), newest glibc symbol ${newest:-none}"
  fi
done

# ---------------------------------------------------------------- 5. moto, tables, client
# The tools and sam see only dummy credentials; SAM passes them and the region into the
# containers.
while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep '^AWS_' || true)
export AWS_ACCESS_KEY_ID=sam-local AWS_SECRET_ACCESS_KEY=sam-local \
  AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

step "moto, tables and the fixed test client"
# The functions' network: internal (no route out of it); the host's address on it is the
# only one moto listens on, so it is reachable from this machine and those containers.
if ! docker network inspect "$NETWORK" >/dev/null 2>&1; then
  docker network create --internal --label "created-by=scripts/sam-local.sh" "$NETWORK" >/dev/null
  NETWORK_CREATED=1
fi
GATEWAY="$(docker network inspect "$NETWORK" --format '{{range .IPAM.Config}}{{.Gateway}}{{end}}')"
[[ "$GATEWAY" =~ ^[0-9.]+$ ]] || die "no IPv4 gateway on the Docker network $NETWORK (got '$GATEWAY')"
export NO_PROXY="$GATEWAY,$NO_PROXY" no_proxy="$GATEWAY,$no_proxy"
moto_port="$(free_port)"
MOTO_ENDPOINT="http://$GATEWAY:$moto_port"
# scripts/moto_server.py: moto_server serialized, as scripts/moto.sh starts it.
proc_start "$ROOT/.tools/venv/bin/python" "$ROOT/scripts/moto_server.py" -H "$GATEWAY" \
  -p "$moto_port" >"$STATE/moto.log" 2>&1 </dev/null
MOTO_PID=$!
deadline=$((SECONDS + 30))
until [[ "$(curl -s -o /dev/null -w '%{http_code}' --noproxy '*' --max-time 2 \
  -X POST "$MOTO_ENDPOINT/moto-api/reset" 2>/dev/null || true)" == 200 ]]; do
  kill -0 "$MOTO_PID" 2>/dev/null || {
    tail -n 20 "$STATE/moto.log" >&2
    MOTO_PID=""
    die "moto exited during start-up (log: $STATE/moto.log)"
  }
  ((SECONDS < deadline)) || die "moto did not answer on $MOTO_ENDPOINT within 30 s"
  sleep 0.2
done
log "moto on $MOTO_ENDPOINT (pid $MOTO_PID, network $NETWORK)"
cargo build -q --features admin --bin oauth-admin
ADMIN="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/oauth-admin"
admin() {
  CLIENTS_TABLE="$CLIENTS_TABLE" TOKENS_TABLE="$TOKENS_TABLE" \
    AWS_ENDPOINT_URL_DYNAMODB="$MOTO_ENDPOINT" "$ADMIN" "$@"
}
admin create-tables
mapfile -t fixed < <(python3 -c '
import json
c = json.load(open("events/expectations.json"))["client"]
print(c["client_id"]); print(c["client_secret"]); print(" ".join(c["scopes"]))')
scope_args=()
for s in ${fixed[2]}; do scope_args+=(--scope "$s"); done
printf '%s\n' "${fixed[1]}" |
  admin import-client --id "${fixed[0]}" --name 'events/ test client (sam local)' "${scope_args[@]}"

# --env-vars sets only variables the template declares: the table names (locally a
# `!Ref` of a table is its logical name) and the endpoint (see the top of this file).
printf '{"Parameters": {"CLIENTS_TABLE": "%s", "TOKENS_TABLE": "%s", "AWS_ENDPOINT_URL_DYNAMODB": "%s"}}\n' \
  "$CLIENTS_TABLE" "$TOKENS_TABLE" "$MOTO_ENDPOINT" >"$STATE/env.json"
SAM_ARGS=(
  --template-file "$BUILD_DIR/template.yaml"
  --parameter-overrides "Architecture=$ARCH DynamoDbEndpoint=$MOTO_ENDPOINT"
  --env-vars "$STATE/env.json"
  --docker-network "$NETWORK"
  --skip-pull-image
)

start_api() { # start_api PORT: sam local start-api in the background, until it answers
  local port="$1" deadline
  proc_start sam local start-api --host 127.0.0.1 --port "$port" "${SAM_ARGS[@]}" \
    >"$STATE/start-api.log" 2>&1 </dev/null
  API_PID=$!
  deadline=$((SECONDS + 120))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    if ! kill -0 "$API_PID" 2>/dev/null; then
      tail -n 30 "$STATE/start-api.log" >&2
      API_PID=""
      die "sam local start-api exited (log: $STATE/start-api.log)"
    fi
    ((SECONDS < deadline)) || die "sam local start-api did not listen on 127.0.0.1:$port within 120 s"
    sleep 0.5
  done
}

if [[ "$MODE" == serve ]]; then
  port="${SAM_LOCAL_API_PORT:-3000}"
  step "sam local start-api on http://127.0.0.1:$port (Ctrl-C stops everything)"
  start_api "$port"
  cat <<EOF
ready http://127.0.0.1:$port/oauth
  client_id ${fixed[0]}, client_secret ${fixed[1]} (the fixed test client of events/)
  curl -s http://127.0.0.1:$port/oauth -u '${fixed[0]}:${fixed[1]}' -d grant_type=client_credentials
  sam local invoke TokenFunction -e events/success-json.json $(printf '%q ' "${SAM_ARGS[@]}")
  (in another shell: PATH with .tools/venv/bin, and AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
  and AWS_DEFAULT_REGION set to anything)
log: $STATE/start-api.log
EOF
  wait "$API_PID" || true
  API_PID=""
  exit 0
fi

# ---------------------------------------------------------------- 6. check
step "sam local invoke of every event in events/"
invoke_start=$SECONDS
"$ROOT/.tools/venv/bin/python" scripts/sam-local-check.py events \
  --dynamodb "$MOTO_ENDPOINT" --tokens-table "$TOKENS_TABLE" --verbose -- "${SAM_ARGS[@]}"
log "sam local invoke of every event took $((SECONDS - invoke_start)) s"

step "sam local start-api"
api_start=$SECONDS
port="${SAM_LOCAL_API_PORT:-$(free_port)}"
start_api "$port"
log "sam local start-api listening on 127.0.0.1:$port after $((SECONDS - api_start)) s"

# The whole client-library suite (tests/clients: authlib, requests-oauthlib, curl, PyJWT)
# through SAM's API Gateway emulation, with its own clients created in the tables the
# functions read; what start-api cannot do is skipped there with its reason.
step "the client-library tests (tests/clients) through sam local start-api"
suite_start=$SECONDS
if ! OAUTH_TEST_BASE_URL="http://127.0.0.1:$port" OAUTH_TEST_SERVER=sam-local-start-api \
  OAUTH_TEST_DYNAMODB_ENDPOINT="$MOTO_ENDPOINT" \
  OAUTH_TEST_CLIENTS_TABLE="$CLIENTS_TABLE" OAUTH_TEST_TOKENS_TABLE="$TOKENS_TABLE" \
  PYTHONDONTWRITEBYTECODE=1 "$ROOT/.tools/venv/bin/pytest" -q -rs tests/clients </dev/null; then
  tail -n 60 "$STATE/start-api.log" >&2
  die "the client-library tests failed through sam local start-api (log: $STATE/start-api.log)"
fi
log "the client-library tests took $((SECONDS - suite_start)) s"

# What only the gateway does: the Lambda authorizer, wrong methods, the metadata document.
step "the authorizer, a wrong method and the metadata through sam local start-api"
gateway_start=$SECONDS
if ! "$ROOT/.tools/venv/bin/python" scripts/sam-local-check.py api --url "http://127.0.0.1:$port"; then
  tail -n 60 "$STATE/start-api.log" >&2
  exit 1
fi
log "those checks took $((SECONDS - gateway_start)) s; sam local start-api in all $((SECONDS - api_start)) s"
step "sam local checks passed"
