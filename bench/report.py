#!/usr/bin/env python3
"""Helpers for bench/run.sh, and the writer of BENCHMARKS.md.

    report.py check-profile A/Cargo.toml B/Cargo.toml   same [profile.release], or exit 1
    report.py profile-env Cargo.toml                    it as CARGO_PROFILE_RELEASE_* words
    report.py machine COLD WARM                         JSON: the machine and the tools
    report.py sizes NAME=BOOTSTRAP ...                  JSON: bytes, and zip -9 bytes
    report.py sdk-init BINARY BUNDLE N                  JSON: SDK start-up, default vs env
    report.py render RESULTS_DIR CRITERION_DIR          BENCHMARKS.md on stdout
"""

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import tomllib

# --- run.sh helpers -------------------------------------------------------------------------


def release_profile(path):
    with open(path, "rb") as f:
        return tomllib.load(f).get("profile", {}).get("release", {})


def check_profile(a, b):
    pa, pb = release_profile(a), release_profile(b)
    if pa != pb:
        sys.exit(f"report.py: [profile.release] differs: {a} {pa} vs {b} {pb}")


def profile_env(path):
    words = []
    for key, value in release_profile(path).items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        words.append(f"{key.upper().replace('-', '_')}={value}")
    print(" ".join(words))


def command(*args):
    try:
        return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def machine(cold, warm):
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    dirty = command("git", "-C", root, "status", "--porcelain", "--untracked-files=no")
    info = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "kernel": platform.release(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "loadavg_before": os.getloadavg(),
        "rustc": command("rustc", "--version"),
        "cargo_lambda": command("cargo", "lambda", "--version"),
        "python": platform.python_version(),
        "moto": command(sys.executable, "-c", "import moto; print(moto.__version__)"),
        "commit": command("git", "-C", root, "rev-parse", "--short", "HEAD"),
        "dirty": dirty not in ("", "?"),
        "cold": int(cold),
        "warm": int(warm),
    }
    json.dump(info, sys.stdout, indent=1)


def sizes(specs):
    out = {}
    for spec in specs:
        name, _, path = spec.partition("=")
        if not os.path.exists(path):
            continue
        with tempfile.TemporaryDirectory() as d:
            # As Lambda takes it: a zip holding `bootstrap`, deflated at level 9.
            boot = os.path.join(d, "bootstrap")
            os.symlink(os.path.abspath(path), boot)
            zipped = os.path.join(d, "f.zip")
            subprocess.run(["zip", "-9", "-q", "-X", zipped, "bootstrap"], cwd=d, check=True)
            out[name] = {
                "path": path,
                "bytes": os.path.getsize(path),
                "zip_bytes": os.path.getsize(zipped),
                "file": command("file", "-b", path).split(",")[0:2],
            }
    json.dump(out, sys.stdout, indent=1)


def sdk_init(binary, bundle, n):
    """Runs bench/variants' sdk-init N times per mode, alternating, each a fresh process in
    a Lambda-like environment: the SDK's start-up with the default credentials and region
    chains, and with the environment's only."""
    import statistics

    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "ASIABENCH",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "SSL_CERT_FILE": bundle,
    }
    runs = {"default": [], "env": []}
    for _ in range(int(n)):
        for mode in runs:
            out = subprocess.run([binary, mode], env=env, capture_output=True, text=True, check=True)
            _, loaded, built = out.stdout.split()
            runs[mode].append((int(loaded), int(built)))
    json.dump(
        {
            mode: {
                "runs": len(v),
                "load_us": statistics.median(x for x, _ in v),
                "load_and_client_us": statistics.median(y for _, y in v),
            }
            for mode, v in runs.items()
        },
        sys.stdout,
        indent=1,
    )


# --- BENCHMARKS.md ----------------------------------------------------------------------------


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "check-profile":
        check_profile(*args)
    elif cmd == "profile-env":
        profile_env(*args)
    elif cmd == "machine":
        machine(*args)
    elif cmd == "sizes":
        sizes(args)
    elif cmd == "sdk-init":
        sdk_init(*args)
    elif cmd == "render":
        from render import render  # noqa: PLC0415 (bench/render.py)

        sys.stdout.write(render(*args))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
