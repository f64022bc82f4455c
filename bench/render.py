"""Writes BENCHMARKS.md from bench/run.sh's results (target/bench/results) and criterion's
(target/criterion). Every figure in the report comes from those files."""

import json
import os

# Targets.
COLD_RATIO = 3.0  # start to first answer less DynamoDB time, against the floor's
FIRST_RATIO = 1.1  # first invocation against a warm one, less DynamoDB time
WARM_CPU_MS = 1.0  # CPU of a warm issuance
WRITE_UNITS = [  # (mode, most write units per issuance)
    ("opaque-refresh", 2.0),
    ("opaque", 1.0),
    ("jwt", 0.0),
]
REQUEST_PATH_US = 50.0
RSS_MIB = 40.0
ZIP_MB = 5.0

# List prices, us-east-1, as of 2026-12-02 (assumptions: see the cost section).
PRICES = {
    "http_api_per_m": 1.00,  # HTTP API, first 300 million requests a month
    "lambda_req_per_m": 0.20,
    "lambda_arm_gb_s": 0.0000133334,  # arm64, first 7.5 billion GB-s a month
    "wru_per_m": 0.625,  # DynamoDB on-demand write request units
    "rru_per_m": 0.125,  # DynamoDB on-demand read request units
    "logs_per_gb": 0.50,  # CloudWatch Logs ingestion (standard)
    "cognito_m2m_per_k": 2.25,  # Cognito M2M token requests, first tier, per 1,000
}
MEMORY_MB = 512  # the token function's MemorySize (template.yaml)
FULL_VCPU_MB = 1769  # Lambda gives one full vCPU at 1,769 MB
DDB_MS = 5.0  # assumed in-Region DynamoDB round trip (p50) for the duration model
PLATFORM_LOG_BYTES = 300  # Lambda's START, END and REPORT lines per invocation (assumed)

MODES = [
    # (count mode, label)
    ("opaque-refresh", "opaque access + refresh token, client cache on"),
    ("opaque-refresh-nocache", "opaque access + refresh token, client cache off"),
    ("opaque", "opaque access token only, client cache on"),
    ("opaque-nocache", "opaque access token only, client cache off"),
    ("jwt", "JWT access token only, client cache on"),
    ("jwt-nocache", "JWT access token only, client cache off"),
    ("jwt-refresh", "JWT access + (opaque) refresh token, client cache on"),
]

START_UP = [
    # (variants target, what it is)
    ("before", "the start-up before these changes (all six undone)"),
    ("undo-chains", "all changes but credentials and Region from the environment"),
    ("undo-roots", "all changes but the compiled-in CA roots"),
    ("undo-stalled", "all changes but stalled-stream protection off"),
    ("undo-connector", "all changes but one TLS connector, built at the first request"),
    ("undo-kms", "all changes but the KMS client built at the first unseal"),
    ("undo-prefault", "all changes but stack and heap pages touched at init"),
    ("after", "the committed start-up"),
    ("lazy", "the committed start-up without the warm-up GetItem"),
]

VARIANTS = [
    # (result name, profile description, what changed from the row before)
    ("lazy-cargo", "cargo's release defaults: opt-level 3, no LTO, 16 codegen units, "
     "panic unwind, symbols kept", "plain `cargo build --release`, for reference"),
    ("lazy-lambda-defaults", "cargo lambda's defaults: thin LTO, 1 codegen unit, "
     "strip symbols, **panic abort**, target-cpu haswell", "the build as shipped before "
     "[profile.release] was set (cargo lambda fills it in)"),
    ("lazy-thin-unwind", "as above with panic unwind", "panic = \"unwind\" (see the panic check)"),
    ("lazy-fat-unwind", "fat LTO, 1 codegen unit, strip, panic unwind, opt-level 3",
     "lto = \"fat\""),
    ("lazy-fat-unwind-s", "as above with opt-level \"s\"", "opt-level = \"s\" (the committed "
     "profile)"),
    ("lazy-shipped", "[profile.release] of Cargo.toml", "the profile as committed"),
    ("token", "[profile.release] of Cargo.toml", "SDK warm-up at init (src/aws.rs, "
     "src/bin/token.rs)"),
]


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def ms(v, digits=2):
    return f"{v:.{digits}f}"


def mib(b):
    return b / 1024 / 1024


def ratio(a, b):
    return a / b if b else float("inf")


def status(ok):
    return "**met**" if ok else "**missed**"


def criterion_results(directory):
    """{bench id: (median ns, p99 of sample means ns, samples)} from criterion's files."""
    out = {}
    if not os.path.isdir(directory):
        return out
    for root, _, files in os.walk(directory):
        if os.path.basename(root) != "new" or "estimates.json" not in files:
            continue
        bench = load(os.path.join(root, "benchmark.json")) or {}
        est = load(os.path.join(root, "estimates.json"))
        sample = load(os.path.join(root, "sample.json")) or {"iters": [], "times": []}
        per_iter = sorted(t / i for t, i in zip(sample["times"], sample["iters"]) if i)
        p99 = per_iter[min(len(per_iter) - 1, int(0.99 * len(per_iter)))] if per_iter else 0
        name = bench.get("full_id") or os.path.relpath(os.path.dirname(root), directory)
        out[name] = (est["median"]["point_estimate"], p99, len(per_iter))
    return out


def cold_table(run, names, labels):
    """The cold start / invocation table for `names` of a coldstart result."""
    t = run["targets"]
    rows = [
        ("init: start to first `next`", "init_ms"),
        ("init, less moto's time", "init_own_ms"),
        ("init, less DynamoDB time (front, moto, TLS server)", "init_net_ms"),
        ("first invocation", "first_ms"),
        ("first invocation, less moto's time", "first_own_ms"),
        ("first invocation, less DynamoDB time", "first_net_ms"),
        ("warm invocation", "warm_ms"),
        ("warm invocation, less moto's time", "warm_own_ms"),
        ("warm invocation, less DynamoDB time", "warm_net_ms"),
        ("start to first response", "start_to_first_response_ms"),
        ("start to first response, less moto's time", "start_to_first_response_own_ms"),
        ("start to first response, less DynamoDB time", "start_to_first_response_net_ms"),
        ("CPU: init", "init_cpu_ms"),
        ("CPU: first invocation", "first_cpu_ms"),
        ("CPU: warm invocation", "warm_cpu_ms"),
        ("peak RSS (MiB)", "peak_rss_mib"),
        ("minor page faults: init", "init_faults"),
        ("minor page faults: first invocation", "first_faults"),
        ("minor page faults: warm invocation", "warm_faults"),
    ]
    head = "| ms (RSS: MiB; page faults: count) | " + " | ".join(
        f"{labels[n]} median | {labels[n]} p99" for n in names
    )
    if len(names) == 2:
        head += " | ratio of medians"
    lines = [head + " |", "|---" * (1 + 2 * len(names) + (len(names) == 2)) + "|"]
    for label, key in rows:
        if any(key not in t[n] for n in names):
            continue
        cells = []
        digits = 0 if key in ("init_faults", "first_faults") else 1 if "faults" in key else 2
        for n in names:
            s = t[n][key]
            cells += [ms(s["median"], digits), ms(s["p99"], digits)]
        if len(names) == 2:
            a, b = t[names[1]][key]["median"], t[names[0]][key]["median"]
            cells.append(f"{ratio(a, b):.1f}×")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render(results_dir, criterion_dir):
    r = lambda name: load(os.path.join(results_dir, name))  # noqa: E731
    machine, sizes, main = r("machine.json"), r("sizes.json") or {}, r("coldstart.json")
    count, variants, panic = r("count.json"), r("variants.json"), r("panic.json")
    crit = criterion_results(criterion_dir)
    out = []
    w = out.append

    w("# Benchmarks\n")
    w(
        "What a token costs: cold start, CPU per request, DynamoDB requests and capacity "
        "units per issuance in each mode, dollars per million tokens, memory and size of the "
        "token function against a hello-world floor. How the design behaves at 10,000 "
        "requests per second is in [docs/SCALING.md](docs/SCALING.md). "
        "**Generated by `bench/run.sh`; do not edit by hand** "
        "(the text around the figures lives in `bench/render.py`).\n"
    )
    if machine:
        dirty = " with uncommitted changes" if machine["dirty"] else ""
        w(
            f"Run on {machine['date']}, commit `{machine['commit']}`{dirty}, as "
            f"`{command(results_dir)}`: {machine['cold']} cold starts per function, "
            f"{machine['warm']} warm invocations after each.\n"
        )

    # --- Targets ---------------------------------------------------------------------------
    if main:
        w(targets_table(main, count, crit, sizes, variants))

    # --- Machine and method -------------------------------------------------------------------
    if machine:
        w("## Machine\n")
        w(
            f"- {machine['cpu']}, {machine['nproc']} CPUs, {machine['memory_gib']} GiB, "
            f"Linux {machine['kernel']}\n- {machine['rustc']}, {machine['cargo_lambda']}, "
            f"moto {machine['moto']}, Python {machine['python']}\n- load average before the "
            f"run: {', '.join(f'{x:.1f}' for x in machine['loadavg_before'])}"
            + (
                f"; after the cold starts: {', '.join(f'{x:.1f}' for x in main['loadavg_after'])}"
                if main
                else ""
            )
            + f" (other jobs share the machine; moto, the harness and the functions ran under "
            f"`{priority(results_dir)}`, criterion at `nice -n -10`)\n"
        )
    w("## Method\n")
    w(METHOD)

    # --- Cold starts -------------------------------------------------------------------------
    if main:
        w("## Cold start and invocations\n")
        w(
            f"Token function and floor interleaved, {main['cold']} cold starts each, "
            f"{main['warm']} warm invocations after each cold start (p99 of the warm figures over "
            f"{main['cold'] * main['warm']}); DynamoDB over TLS. "
            + (f"{len(main['failures'])} cold starts failed and were run again: "
               + "; ".join(f"{f['target']}: {f['error'][:120]}" for f in main["failures"]) + ". "
               if main["failures"] else "No cold start failed. ")
            + "\n"
        )
        w(cold_table(main, ["hello", "token"], {"hello": "floor", "token": "token"}))
        w("")
        if "token-cache" in main["targets"]:
            w(
                "\nThe same with the client cache on (`CLIENT_CACHE_SECONDS=60`), same run: "
                "a warm issuance makes one DynamoDB request instead of two, the first "
                "still two (it fills the cache).\n"
            )
            w(cold_table(main, ["hello", "token-cache"], {"hello": "floor", "token-cache": "token, cache on"}))
            w("")
        reqs = main["targets"]["token"]["dynamodb_requests"]
        w(
            f"DynamoDB requests per cold start at init: {reqs['init']['per_invocation']:g} "
            f"({ops(reqs['init'])}); per first invocation {reqs['first']['per_invocation']:g}; "
            f"per warm invocation {reqs['warm']['per_invocation']:g}.\n"
        )

    # --- Request path ---------------------------------------------------------------------------
    if crit:
        w("## Request path (criterion, in-memory store)\n")
        w(
            "`cargo bench --bench request_path` (benches/request_path.rs): one invocation's "
            "bytes in, the response's bytes out, with `MemoryStore`; the bench profile is the "
            "release profile. p99 is over criterion's samples (each the mean of many "
            "iterations), not single requests.\n"
        )
        w("| benchmark | median µs | p99 of samples µs |")
        w("|---|---|---|")
        for name in sorted(crit, key=bench_order):
            med, p99, _ = crit[name]
            w(f"| `{name}` | {ms(med / 1000, 2)} | {ms(p99 / 1000, 2)} |")
        w("")
        if "issue/form_basic" in crit and "issue/form_basic_logged" in crit:
            d = (crit["issue/form_basic_logged"][0] - crit["issue/form_basic"][0]) / 1000
            w(f"The request's JSON log line (one write(2) to /dev/null) adds {ms(d, 1)} µs.\n")

    # --- DynamoDB cost, dollars ------------------------------------------------------------
    if count:
        w(dynamodb_section(count))
        w(cost_section(count, main))
    loads = [(label, r(name)) for name, label in [
        ("load.json", "defaults (client cache off)"),
        ("load-cache.json", "client cache on (CLIENT_CACHE_SECONDS=60)"),
    ] if r(name)]
    if loads:
        w(load_section(loads))

    # --- Size --------------------------------------------------------------------------------------
    if sizes:
        w("## Size\n")
        w("`zip -9` of the bootstrap, as Lambda takes it.\n")
        w("| bootstrap | bytes | zipped bytes | zipped MB |")
        w("|---|---|---|---|")
        for name, s in sizes.items():
            w(f"| {name} | {s['bytes']:,} | {s['zip_bytes']:,} | {s['zip_bytes'] / 1e6:.2f} |")
        w("")

    # --- Variants ------------------------------------------------------------------------------
    if variants:
        w(start_up_section(variants, results_dir))
        w(profiles_section(variants, sizes))
    perf = r("perf.json")
    if perf:
        w(perf_section(perf))
    if panic:
        w("## Panic strategy check\n")
        w(
            "bench/variants' `panicker` panics in its handler when asked; built with cargo "
            "lambda's default (abort) and with the committed profile (unwind):\n"
        )
        w("| build | invocation error posted (its errorType) | process | next request |")
        w("|---|---|---|---|")
        for name, p in panic.items():
            proc = "died" + (f" (status {p['exit_status']})" if p["exit_status"] is not None else "")
            w(
                f"| {name} | {'yes: `' + p['error_posted'] + '`' if p['error_posted'] else 'no'} | "
                f"{proc if p['exit_status'] is not None else 'lived on'} | "
                f"{'served' if p['served_next'] else 'needs a new cold start'} |"
            )
        w("")
    w(CAVEATS)
    return "\n".join(out) + "\n"


def command(results_dir):
    try:
        with open(os.path.join(results_dir, "command.txt")) as f:
            return f.read().strip()
    except OSError:
        return "bench/run.sh"


def priority(results_dir):
    try:
        with open(os.path.join(results_dir, "priority.txt")) as f:
            return f.read().strip()
    except OSError:
        return "normal priority"


def ops(phase):
    return ", ".join(f"{k} {v}" for k, v in sorted(phase["by_operation"].items())) or "none"


def bench_order(name):
    order = ["issue/json", "issue/form", "issue/form_basic", "issue/form_basic_logged",
             "refresh/form_basic"]
    return (order.index(name) if name in order else len(order), name)


def med(t, name, key):
    return t[name][key]["median"]


def read_steps(path):
    steps = []
    try:
        with open(path) as f:
            for line in f:
                if line.startswith('{"main"'):
                    steps.append(json.loads(line))
    except OSError:
        pass
    return steps



def mode(count, name):
    return (count.get("modes") or {}).get(name)


def given_back(variants):
    """What the start-up changes did to the first invocation's ratio, from the interleaved
    run of the variants (the start-up before all of them against the committed one)."""
    t = (variants or {}).get("targets", {})
    before, after = first_ratio(t, "before"), first_ratio(t, "after")
    if before is None or after is None:
        return ""
    verdict = "nothing given back" if after <= before else "given back"
    return (
        f"; in the interleaved run of the start-ups below, before the start-up changes "
        f"{before:.2f}×, after them {after:.2f}×: {verdict}"
    )


def first_ratio(targets, name):
    """A start-up's first invocation over a warm one, less DynamoDB time (medians)."""
    v = targets.get(name)
    if not v or "first_net_ms" not in v:
        return None
    return ratio(v["first_net_ms"]["median"], v["warm_net_ms"]["median"])


def targets_table(main, count, crit, sizes, variants=None):
    t, h = main["targets"]["token"], main["targets"]["hello"]
    out = ["## Where each target stands\n", "| Target | Measured | Status |", "|---|---|---|"]
    w = out.append
    floor = h["start_to_first_response_ms"]["median"]
    net, own = t.get("start_to_first_response_net_ms"), t.get("start_to_first_response_own_ms")
    if net:
        r = ratio(net["median"], floor)
        r_own = ratio(own["median"], floor)
        w(
            f"| Cold start: start to first answer, less DynamoDB time, ≤ {COLD_RATIO:g}× the "
            f"floor's start to first answer | {ms(net['median'])} vs {ms(floor)} ms: "
            f"**{r:.1f}×** (less moto's time only, as reports before this one measured: "
            f"{ms(own['median'])} ms, {r_own:.1f}×; with DynamoDB's time "
            f"{ms(t['start_to_first_response_ms']['median'])} ms; init CPU "
            f"{ms(t['init_cpu_ms']['median'])} vs {ms(h['init_cpu_ms']['median'])} ms) | "
            f"{status(r <= COLD_RATIO)} |"
        )
        first_r = ratio(t["first_net_ms"]["median"], t["warm_net_ms"]["median"])
        first_own_r = ratio(t["first_own_ms"]["median"], t["warm_own_ms"]["median"])
        first_cpu_r = ratio(t["first_cpu_ms"]["median"], t["warm_cpu_ms"]["median"])
        w(
            f"| First invocation ≤ {FIRST_RATIO:g}× a warm one (less DynamoDB time) | "
            f"{ms(t['first_net_ms']['median'])} vs {ms(t['warm_net_ms']['median'])} ms: "
            f"**{first_r:.2f}×**; less moto's time only {first_own_r:.2f}×; CPU "
            f"{ms(t['first_cpu_ms']['median'])} vs {ms(t['warm_cpu_ms']['median'])} ms: "
            f"{first_cpu_r:.2f}×{given_back(variants)} | {status(first_r <= FIRST_RATIO)} |"
        )
    cpu = t["warm_cpu_ms"]["median"]
    tc = main["targets"].get("token-cache")
    cached = (
        f"; with the client cache on (CLIENT_CACHE_SECONDS=60, one DynamoDB request): "
        f"{ms(tc['warm_cpu_ms']['median'])} ms" if tc else ""
    )
    w(
        f"| Warm issuance ≤ {WARM_CPU_MS:g} ms of CPU | defaults (client read every "
        f"time, two DynamoDB requests): **{ms(cpu)} ms**{cached} (medians of "
        f"{main['cold']} processes' means over {main['warm']} warm issuances each; p99 "
        f"{ms(t['warm_cpu_ms']['p99'])}; floor {ms(h['warm_cpu_ms']['median'])}) | "
        f"{status(cpu <= WARM_CPU_MS)} |"
    )
    if count and count.get("modes"):
        for name, most in WRITE_UNITS:
            m = mode(count, name)
            if not m:
                continue
            wu = m["issuance"].get("write_units")
            if wu is None:
                continue
            w(
                f"| Write units per issuance, {label_of(name)}: ≤ {most:g} | **{wu:g}** "
                f"({ops(m['issuance'])}) | {status(wu <= most)} |"
            )
    issue = [crit[k][0] / 1000 for k in ("issue/json", "issue/form", "issue/form_basic") if k in crit]
    if not issue:
        w(
            f"| Request path ≤ {REQUEST_PATH_US:.0f} µs CPU per issuance (no DynamoDB) | not "
            "measured in this run (`--no-criterion`); `cargo bench --bench request_path` "
            "measures it | – |"
        )
    if issue:
        w(
            f"| Request path ≤ {REQUEST_PATH_US:.0f} µs CPU per issuance (no DynamoDB) | "
            f"JSON {ms(crit['issue/json'][0] / 1000, 1)}, form "
            f"{ms(crit['issue/form'][0] / 1000, 1)}, form + Basic "
            f"{ms(crit['issue/form_basic'][0] / 1000, 1)} µs (medians) | "
            f"{status(max(issue) <= REQUEST_PATH_US)} |"
        )
    rss = t["peak_rss_mib"]["max"]
    w(
        f"| Peak RSS ≤ {RSS_MIB:.0f} MB | {ms(rss, 1)} MiB, the highest of all cold starts "
        f"(floor {ms(h['peak_rss_mib']['max'], 1)}) | {status(rss <= RSS_MIB)} |"
    )
    if "token" in sizes:
        z = sizes["token"]["zip_bytes"] / 1e6
        arm = sizes.get("token-arm64")
        arm_txt = f"; arm64 {arm['zip_bytes'] / 1e6:.2f} MB" if arm else ""
        w(
            f"| Zipped bootstrap ≤ {ZIP_MB:.0f} MB | x86_64 **{z:.2f} MB**{arm_txt} "
            f"(floor {sizes['hello']['zip_bytes'] / 1e6:.2f} MB) | {status(z <= ZIP_MB)} |"
        )
    out.append("")
    return "\n".join(out)


def label_of(name):
    return dict(MODES).get(name, name)


def dynamodb_section(count):
    out = ["## DynamoDB cost per issuance\n"]
    out.append(
        "Counted at the endpoint (bench/dynamodb_front.py) by `X-Amz-Target`, and priced in "
        "capacity units by DynamoDB's metering rules applied to the items sent and stored "
        "(moto does not meter; see Method): one process per mode, through init, "
        f"{count['runs']} client_credentials issuances after the first and, where refresh "
        f"tokens are issued, a chain of {count['runs']} refresh_token grants. Per "
        "invocation; the first issuance of a process is shown apart (it fills the client "
        "cache). Modes are the function's environment: `CLIENT_CACHE_SECONDS` 60 (on) or 0 "
        "(off), `ISSUE_REFRESH_TOKENS=false` (no refresh token), `TOKEN_FORMAT=jwt`.\n"
    )
    modes = count.get("modes") or {"token": count}
    out.append(
        "| mode | phase | requests | operations | read units | write units | CPU ms |"
    )
    out.append("|---|---|---|---|---|---|---|")
    for name, m in modes.items():
        for key, label in [("init", "init"), ("first_issuance", "first issuance"),
                           ("issuance", "issuance"), ("refresh", "refresh")]:
            if key not in m:
                continue
            ph = m[key]
            cpu = ms(m["issue_cpu_ms"], 2) if key == "issuance" and "issue_cpu_ms" in m else ""
            out.append(
                f"| {label_of(name) if key == 'init' else ''} | {label} | "
                f"{ph['per_invocation']:g} | {ops(ph)} | {ph.get('read_units', 0):g} | "
                f"{ph.get('write_units', 0):g} | {cpu} |"
            )
    out.append("")
    return "\n".join(out)


def billed_ms(cpu_ms, round_trips):
    """Lambda's billed duration of a warm invocation, modelled: CPU scaled to the
    function's share of a vCPU, plus DynamoDB's round trips, rounded up to 1 ms."""
    import math

    return max(1, math.ceil(cpu_ms * FULL_VCPU_MB / MEMORY_MB + round_trips * DDB_MS))


def cost_section(count, main):
    p = PRICES
    modes = count.get("modes") or {}
    if not modes:
        return ""
    out = ["## Dollars per million tokens\n"]
    out.append(
        "Per million warm client_credentials issuances, from the requests, capacity units "
        "and CPU measured above, at list prices (assumptions below). Lambda's duration is "
        "modelled, not measured (no Lambda here): the measured CPU per issuance scaled to "
        f"a {MEMORY_MB} MB function's share of a vCPU (one vCPU at {FULL_VCPU_MB} MB, so "
        f"× {FULL_VCPU_MB / MEMORY_MB:.2f}), plus {DDB_MS:g} ms per DynamoDB round trip, "
        "rounded up to the millisecond Lambda bills. Cold starts (a few per thousand "
        "invocations at most under steady load) and the client-cache refills are left "
        "out.\n"
    )
    out.append(
        "| mode | billed ms | API Gateway | Lambda requests | Lambda duration | DynamoDB "
        "writes | DynamoDB reads | logs | **total** | Cognito M2M |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for name, m in modes.items():
        iss = m["issuance"]
        trips = iss["per_invocation"]
        bms = billed_ms(m["issue_cpu_ms"], trips)
        api = p["http_api_per_m"]
        req = p["lambda_req_per_m"]
        dur = p["lambda_arm_gb_s"] * MEMORY_MB / 1024 * bms / 1000 * 1e6
        wr = iss.get("write_units", 0) * p["wru_per_m"]
        rd = iss.get("read_units", 0) * p["rru_per_m"]
        lb = m.get("log_bytes_per_issuance")
        logs = ((lb or 0) + PLATFORM_LOG_BYTES) * 1e6 / 1e9 * p["logs_per_gb"]
        total = api + req + dur + wr + rd + logs
        cognito = p["cognito_m2m_per_k"] * 1000
        out.append(
            f"| {label_of(name)} | {bms} | ${api:.2f} | ${req:.2f} | ${dur:.2f} | ${wr:.3f} | "
            f"${rd:.3f} | ${logs:.2f} | **${total:.2f}** | ${cognito:,.0f} |"
        )
    out.append("")
    out.append(
        f"Prices (list, us-east-1, as of 2026-12-02; check before relying on them): API "
        f"Gateway HTTP API ${p['http_api_per_m']:.2f} per million requests (first 300 "
        f"million a month); Lambda ${p['lambda_req_per_m']:.2f} per million requests and "
        f"${p['lambda_arm_gb_s']:.10f} per GB-second on arm64; DynamoDB on-demand "
        f"${p['wru_per_m']:.3f} per million write request units and ${p['rru_per_m']:.3f} "
        f"per million read request units; CloudWatch Logs ingestion ${p['logs_per_gb']:.2f} "
        f"per GB (the function's own log lines as measured, plus about {PLATFORM_LOG_BYTES} "
        "bytes of Lambda's START/END/REPORT lines); Amazon Cognito machine-to-machine "
        f"authorization ${p['cognito_m2m_per_k']:.2f} per 1,000 successful token requests "
        "in the first tier (lower tiers above it), plus $6 per app client a month, as priced "
        "since May 2024 (Cognito's pricing page; billing code CUPM2MTokenRequestsFull). "
        "Cognito's figure is for the same million tokens; it includes its own hosting, "
        "which the other columns add up to for this service. Free tiers are ignored.\n"
    )
    return "\n".join(out)


def load_section(loads):
    out = ["## Load: DynamoDB requests per second\n"]
    out.append(
        "`LOAD_FRONT=1 LOAD_SERVER=emulator bench/load/run.sh` (two function instances, 16 "
        "connections): the load test's client_credentials issuances (opaque access + "
        "refresh token) through bench/dynamodb_front.py to moto. moto serializes requests "
        "(and the front's metering reads it around each write), so the rate is moto's, not "
        "the function's; what scales is the requests per issuance by operation "
        "(docs/SCALING.md multiplies it out to 10,000 issuances per second).\n"
    )
    out.append("| configuration | seconds | operation | requests | per second | "
               "read units | write units |")
    out.append("|---|---|---|---|---|---|---|")
    for label, run in loads:
        reqs, per, units = run.get("requests", {}), run.get("per_second", {}), run.get("units", {})
        first = True
        for op in sorted(reqs):
            head = f"{label} | {run.get('seconds', 0):.1f}" if first else " | "
            tail = (f"{units.get('read', 0):g} | {units.get('write', 0):g}" if first else " | ")
            out.append(f"| {head} | {op} | {reqs[op]} | {per.get(op, 0):g} | {tail} |")
            first = False
    out.append("")
    return "\n".join(out)


def start_up_section(variants, results_dir):
    import statistics

    t = variants["targets"]
    rows = [(n, d) for n, d in START_UP if n in t]
    if not rows:
        return ""
    out = ["## Init: where the time goes, and what each start-up change bought\n"]
    out.append(
        f"One interleaved run, {variants['cold']} cold starts each: the committed function "
        "built with the bench-variants feature (the committed profile plus symbols, line "
        "tables and frame pointers: the build perf profiles below) with "
        "`OAUTH_BENCH_UNDO` putting back what a change replaced (src/aws.rs), and "
        "`OAUTH_BENCH_INIT=phases` logging each init step. Medians; ms; \"less "
        "DynamoDB\" as in Method.\n"
    )
    out.append(
        "| start-up | init | init less DynamoDB | init CPU | first inv. less DynamoDB | "
        "first inv. CPU | warm inv. less DynamoDB | warm CPU | start to first answer less "
        "DynamoDB |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|")

    def net(n, key):
        v = t[n].get(key.replace("_own", "_net")) or t[n].get(key)
        return ms(v["median"]) if v else "–"

    for n, d in rows:
        out.append(
            f"| {d} | {ms(med(t, n, 'init_ms'))} | {net(n, 'init_own_ms')} | "
            f"{ms(med(t, n, 'init_cpu_ms'))} | {net(n, 'first_own_ms')} | "
            f"{ms(med(t, n, 'first_cpu_ms'))} | {net(n, 'warm_own_ms')} | "
            f"{ms(med(t, n, 'warm_cpu_ms'))} | {net(n, 'start_to_first_response_own_ms')} |"
        )
    out.append("")
    if "hello" in t:
        out.append(
            f"The floor in the same run: init {ms(med(t, 'hello', 'init_ms'))} ms (CPU "
            f"{ms(med(t, 'hello', 'init_cpu_ms'))}), start to first answer "
            f"{ms(med(t, 'hello', 'start_to_first_response_ms'))} ms.\n"
        )
    logs = os.path.join(os.path.dirname(results_dir), "logs", "variants")
    runs = {n: read_steps(os.path.join(logs, f"{n}.log")) for n in ("before", "after")}
    if runs["before"] and runs["after"]:
        labels = {
            "logging": "JSON log subscriber",
            "config": "Config::from_env",
            "sdk": "SDK configuration (aws::sdk_config)",
            "store": "DynamoDB clients (DynamoStore::from_sdk_config), JWT keyring, KMS "
            "client (built here only when undone)",
            "warm_up": "warm-up GetItem (TCP, TLS handshake with the trust store built, "
            "signing, moto)",
            "rng": "RNG, client cache",
            "prefault": "stack and heap pages touched (prefault)",
        }
        out.append("By step (wall ms since `main`, medians; `main` follows exec and dynamic "
                   "linking):\n")
        out.append("| step | before | after |")
        out.append("|---|---|---|")
        names = list(runs["after"][0])
        for a, b in zip(names, names[1:]):
            cells = []
            for run in ("before", "after"):
                vals = [(x[b][0] - x[a][0]) / 1000 for x in runs[run] if a in x and b in x]
                cells.append(ms(statistics.median(vals)) if vals else "–")
            out.append(f"| {labels.get(b, b)} | " + " | ".join(cells) + " |")
        cpu = []
        for run in ("before", "after"):
            vals = [x[names[-1]][1] / 1000 for x in runs[run]]
            cpu.append(ms(statistics.median(vals)))
        out.append(f"| CPU from `main` to the end of init | {cpu[0]} | {cpu[1]} |")
        out.append("")
    out.append(TRADES)
    return "\n".join(out)


def profiles_section(variants, sizes):
    t = variants["targets"]
    rows = [v for v in VARIANTS if v[0] in t and v[0] != "token"]
    if len(rows) < 2:
        return PROFILE_NOTE
    out = ["## Release profile\n"]
    out.append(
        "The start-up without its warm-up (OAUTH_BENCH_INIT=lazy) under each release "
        "profile, same run. Medians; sizes zipped.\n"
    )
    out.append("| build | profile | zipped MB | init ms | init CPU ms | warm inv. CPU ms | "
               "peak RSS MiB | change |")
    out.append("|---|---|---|---|---|---|---|---|")
    for name, profile, change in rows:
        z = f"{sizes[name]['zip_bytes'] / 1e6:.2f}" if name in sizes else "–"
        out.append(
            f"| {name} | {profile} | {z} | {ms(med(t, name, 'init_ms'))} | "
            f"{ms(med(t, name, 'init_cpu_ms'))} | {ms(med(t, name, 'warm_cpu_ms'))} | "
            f"{ms(med(t, name, 'peak_rss_mib'), 1)} | {change} |"
        )
    out.append("")
    return "\n".join(out)


def perf_section(perf):
    out = ["## Warm issuance: where the CPU goes\n"]
    out.append(
        f"`perf record` (4,999 Hz, frame-pointer call graphs) attached to one process over "
        f"{perf['invocations']} warm issuances (opaque + refresh, client cache as "
        "configured by default), the bench-variants build (the committed profile plus "
        "symbols and frame pointers). "
        f"CPU per issuance during the profile: {ms(perf['cpu_ms_per_invocation'])} ms "
        "(perf's own sampling adds a little). Self time, by crate:\n"
    )
    out.append("| crate | % of samples |")
    out.append("|---|---|")
    for crate, pct in perf["by_crate"][:15]:
        out.append(f"| {crate} | {pct:.1f} |")
    out.append("\nTop symbols (self time):\n")
    out.append("| % | symbol |")
    out.append("|---|---|")
    for pct, sym in perf["top_symbols"][:20]:
        sym = sym.replace("|", "\\|")
        if len(sym) > 110:
            sym = sym[:107] + "..."
        out.append(f"| {pct:.2f} | `{sym}` |")
    out.append("")
    out.append(WARM_CHANGES)
    return "\n".join(out)


WARM_CHANGES = """\
Changes to the warm path measured against the profile, each as an interleaved cold-start
run of the two builds (`bench/runtime_api.py coldstart`, 20 cold starts × 20 warm
issuances per build, three runs; defaults, two DynamoDB requests):

- **Kept: no per-request configuration override.** The token writes' BatchWriteItem must
  not be retried by the SDK (src/store/dynamodb.rs, `batch_put_tokens`). It used to say so
  with `customize().config_override(...)` on every call, which makes the SDK merge a new
  configuration layer and rebuild the operation's runtime components per request
  (`RuntimeComponentsBuilder::merge_from` above). A second client, built once at start-up
  from the same configuration with retries off, does the same: warm CPU 1.06 → 1.01, 1.03
  → 0.99 and 0.97 → 0.94 ms in three runs (about 4 % less), and the bootstrap 180 KB
  smaller. Trades 0.02–0.16 ms more init CPU in the six runs (the second client is built at
  start-up); the two clients share the HTTP client and its connections.
- **Rejected: mimalloc as the global allocator.** Warm CPU 0.92 → 0.84, 0.92 → 0.83
  and 1.00 → 0.89 ms in three runs (about 10 % less, the allocator's share in the profile), but init CPU 3.6 → 4.7 ms and peak RSS
  10.2 → 16.0 MiB (its arenas), which gives back the cold-start target's margin; glibc's
  allocator stays.
"""


TRADES = """\
What each change trades away:

- **Credentials and Region from the environment** (src/aws.rs, `config_loader`): where
  `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (with `AWS_SESSION_TOKEN`) and
  `AWS_REGION` are set, as Lambda always sets them, they are used as they are, and the
  SDK's default chains are not built (profile files, SSO, web identity with its STS
  client, the instance metadata service). The default chains also read the environment
  first, so in Lambda the credentials are the same ones. Traded: a process that has these
  variables set *and* expects a profile, SSO or web identity to win over them; there is
  none in the chain's own order. Lambda's credentials do not rotate within an execution
  environment's lifetime, so holding them fixed loses nothing. Without the variables (the
  admin tool, a developer's machine) the default chains run as before.
- **Compiled-in CA roots, Amazon's only, in Lambda** (src/aws-roots.pem: Amazon Root CA
  1–4 and Starfield Services Root CA G2, which cross-signs them, as Mozilla's set carries
  them): where `AWS_LAMBDA_FUNCTION_NAME` is set, the system's trust store is no longer
  read at start-up nor consulted at all, and five certificates are parsed instead of the
  system's 140-odd. Every AWS endpoint's certificate chains to one of these (Amazon Trust
  Services). Traded: the function is pinned to Amazon Trust Services: an AWS endpoint
  served under another CA, or a TLS-inspecting proxy, fails the handshake until trusted
  through `AWS_CA_BUNDLE` (a PEM file whose certificates are added; this benchmark's TLS
  front is trusted that way; the tests reach moto over plain HTTP and need nothing); a
  distrust or a new root in the OS store reaches the function only with a new build.
  Outside Lambda (the admin tool, local runs) the system's trust store is used as
  before, plus `AWS_CA_BUNDLE`. Mozilla's whole set compiled in (webpki-root-certs) was
  measured first: the SDK takes roots only as PEM, and decoding 118 certificates' PEM (a
  constant-time base64 decoder) cost more CPU at init than reading the system bundle.
- **Stalled-stream protection off**: the SDK no longer measures each response body's
  throughput. Traded: a DynamoDB response that starts and then stalls is cut by the
  operation attempt timeout (60 % of `DYNAMODB_TIMEOUT_MS`) instead of after the
  protection's grace period (5 s by default, longer than that timeout anyway).
- **One TLS connector, built at the first request** (src/aws.rs,
  `ConnectorOnFirstRequest`): the SDK's HTTP client builds a connector (a rustls
  configuration, its trust store's PEM decoded) each time a service client is constructed,
  only to drop it (it is there so that a system trust store is read at construction), and
  builds the one requests use at the first request; with the DynamoDB clients and the KMS
  client, start-up built three or four connectors and used one. The wrapper leaves the
  dropped builds out; the connector is built at the warm-up, in init. Traded: outside
  Lambda, an unreadable system trust store shows at the first request instead of when a
  client is constructed (neither reported it).
- **The KMS client built at the first unseal** (src/kms.rs, `KmsUnseal::on_first_use`):
  only a JWT signing key's unsealing needs it, once per key per process. Traded: the first
  JWT issuance of an execution environment also constructs the client (a fraction of a
  millisecond, beside the `Decrypt` round trip it waits for anyway); a function whose
  clients are all opaque never builds it.
- **Two DynamoDB clients, built from the SDK configuration** (src/store/dynamodb.rs,
  `DynamoStore::from_sdk_config`; not undoable above): the functions used to construct a
  client only for the store to rebuild it with its operation timer (and again without
  retries). Nothing is traded: the two clients are the same as before.
- **Stack and heap pages touched at init** (src/bin/token.rs, `prefault`): init writes
  128 KB of stack and 96 KB of heap (freed at once, kept mapped by the allocator), the
  pages a request grows into. The first invocation's page faults fall from 26 to 3 and its
  CPU by about 0.08 ms; in two interleaved runs on 2026-12-07 (20 and 40 cold starts × 20
  warm issuances, the shipped build against one without it) the first invocation less
  DynamoDB time went from 1.25× to 1.21× and from 1.29× to 1.13× a warm one, start to
  first answer less DynamoDB time +0.08 and −0.14 ms (noise: the same faults are taken at
  init instead). Traded: about 0.2 MiB more RSS, resident from init whether or not a
  request needs that much.
- **The warm-up GetItem at init** is kept: it opens DynamoDB's connection (TLS handshake)
  during init, so that the first invocation costs about what a warm one does (first
  invocation target); without it ("without the warm-up" above) the first invocation pays
  the handshake. It costs one read unit per cold start and is billed as init time.

What is left of the first invocation's excess over a warm one is not work left undone.
Counted with callgrind on 2026-12-06 (`valgrind --tool=callgrind`, the bench-variants
build, one cold start, a dump after init, after the first invocation and after each of
five warm ones): the first invocation runs 1.51 million instructions in user space, a
warm one 1.49 million (+1.4 %); the floor 163 against 159 thousand (+2.6 %). Yet in the
tables above the first takes about 1.4× a warm one's CPU, and the floor's 2×. It is the same work on a cold
machine: pages touched for the first time (between the end of init and the first
request's log line, by the faulting address: 15 heap and 14 stack pages, 4 of code;
the heap and stack pages are now touched at init, above), and caches, TLB and branch
predictors that have not yet seen the request path. A rehearsal
moves that into init rather than removing it, and only part of it: a build that, at
init, ran one whole real issuance (GetItem, BatchWriteItem, answer, log line) before
taking its first event, which no function should ship (a write per cold start), took the
first invocation from 1.55 to 1.47 ms against warm ones of 1.31 and 1.33 ms (less
DynamoDB time; one interleaved run of 20 cold starts × 20 warm issuances, 1.18× →
1.10×).

Where init's own time goes, from two profiles of cold starts taken on 2026-12-06, of
the build before opt-level "s" (below) was committed:

- `perf record -a -F 20000 -g` over 11 cold starts (init only): page-fault handling is
  38 % of init's CPU samples (mapping the executable's file pages, 17 %), the dynamic
  loader 15 % (relocation 10 %), the warm-up GetItem 29 % (of which TCP and the TLS
  handshake 13 %: rustls's client hello and its X25519 key share 3 %; the SDK's
  orchestration and signing about 14 %), building the two DynamoDB clients 6 %.
- `perf record -e minor-faults -d` over six cold starts (init, the first invocation and
  one warm one), by the faulting address: about 95 in the executable's code (6.6 MB,
  nearly all of it mapped by then: each fault maps up to 16 pages around it), 77 in
  `.data.rel.ro` (every page the loader's 19,600 relocations write, copied on write), 78
  in the heap, 47 in the stack (the async state machines), 19 in read-only data and about
  40 in the shared libraries: some 365 in all, against the floor's 104.

So code size is most of what is left: **opt-level "s"** (now the committed profile, see
below) makes the code a third smaller; in three interleaved runs (20–30 cold starts × 20
warm issuances, opt-level 3 against "s") it took init less DynamoDB time down by 0.15,
0.25 and 0.21 ms and its page faults from 365 to 307–321, start to first answer less
DynamoDB time by 0.15 and 0.20 ms in two of the runs (0.05 ms longer in the third), and left a warm issuance's CPU where it was
(−0.07, −0.02 and 0.00 ms). Measured and not kept: `madvise(MADV_POPULATE_READ)` over the
code at the start of `main` (init 0.25 ms longer: it maps the same pages and the ones
never run; it needs Linux 5.14 anyway), and reading one byte per 64 KB of code to fault
it in ahead (no change). Left alone: a non-PIE build (no relocations to apply, but no
address-space randomisation of the code either), packed relative relocations (DT_RELR
needs glibc 2.36; Amazon Linux 2023 has 2.34), and ordering functions so that the code
a cold start runs is contiguous (a profile-driven link order to keep up to date).
"""

PROFILE_NOTE = """\
## Release profile

Not measured in this run (`bench/run.sh --profiles` does: five more LTO builds). The
committed `[profile.release]` (opt-level "s", fat LTO, one codegen unit, symbols
stripped, panic unwind) was chosen by that comparison in an earlier run on this kind of
machine, and by the start-up profile above: fat LTO over thin made the bootstrap smaller
(4.15 → 3.71 MB zipped) and a warm invocation's CPU about 8 % lower; opt-level "s" saved
0.9 MB zipped for no measurable CPU, and was kept once init's page faults were seen to be
mostly the code's (see "Init" above); panic = "unwind" costs 0.5 MB zipped and keeps a
panicking request from killing the execution environment.
"""

METHOD = """\
- **Builds**: `cargo lambda build --release` (x86_64, zig linker, `-C target-cpu=haswell`
  added by cargo lambda), the profile that ships; the floor (`bench/hello`, a
  `lambda_runtime` hello world on the same current-thread tokio runtime) with the same
  `[profile.release]` (run.sh checks), in its own workspace and target dir.
- **Runtime API** (`bench/runtime_api.py`): implements `GET .../invocation/next`,
  `POST .../{id}/response`, `.../{id}/error` and `.../init/error`; starts each bootstrap
  fresh with Lambda's environment (AWS_LAMBDA_RUNTIME_API, AWS_LAMBDA_FUNCTION_NAME,
  _MEMORY_SIZE, _VERSION, dummy credentials with a session token, AWS_REGION) and the
  service's (CLIENTS_TABLE, TOKENS_TABLE, AWS_ENDPOINT_URL_DYNAMODB), and hands it an API
  Gateway HTTP API (v2) event: `POST /oauth`, form body (base64, as API Gateway sends it),
  Basic credentials, `grant_type=client_credentials`.
  - *init*: just before fork/exec to the first `next` request;
  - *first invocation*: the event's last byte sent to the response received; *warm*: the
    same for the invocations after it;
  - *CPU*: the process's threads' `/proc/<pid>/task/*/schedstat` at each `next`;
  - *peak RSS*: `VmHWM` from `/proc/<pid>/status` at the end of each cold start.
- **DynamoDB**: moto (scripts/moto_server.py, serialized; through bench/load/moto_fast.py,
  whose transactions copy only the items they touch rather than whole tables), reset
  before each cold start and each counted mode, behind `bench/dynamodb_front.py`, which
  keeps connections alive and speaks TLS like DynamoDB (RSA 2048 certificate from a throwaway CA, which the
  function trusts through `AWS_CA_BUNDLE`, in addition to its compiled-in roots; the
  undone "native roots" start-up reads `SSL_CERT_FILE`, one bundle of this machine's CAs
  plus that CA, as Amazon Linux 2023 has one bundle file) and counts requests by
  `X-Amz-Target`. moto alone answers every request with `Connection: close` over plain
  HTTP: a function talking to it directly would never reuse a connection nor do a TLS
  handshake. The front times each request's wait for moto,
  and each request's whole stay in the front (from its headers read to its answer
  written) plus the CPU of each TLS handshake's server side: "less moto's time" subtracts
  the first (as reports before this one did), "less DynamoDB time" the second, leaving
  what the function, the kernel's loopback and the client side of TLS took. In AWS,
  DynamoDB's own share (network and service time) would take the place of what is
  subtracted.
- **Capacity units**: moto does not meter (it answers `ReturnConsumedCapacity` with fixed
  figures, if at all), so the front prices each request by DynamoDB's rules from the items
  themselves: an item's size is its attribute names' and values' bytes; a write costs one
  write unit per started KB of the larger of the item before and after (the item before
  read from moto), a strongly consistent read one unit per started 4 KB (eventually
  consistent half), and TransactWriteItems / TransactGetItems count every unit twice. The
  tables have no global secondary index (each would add its own writes). Only the
  counting runs meter; the timed runs do not (metering reads moto).
- **Modes**: the token function's environment per counted run: `CLIENT_CACHE_SECONDS`
  (60 or 0), `ISSUE_REFRESH_TOKENS=false`, `TOKEN_FORMAT=jwt` with a signing key created
  on moto (sealed by moto's KMS) by `oauth-admin create-signing-key`.
- **CPU profile**: `perf record --call-graph fp` on a build with symbols and frame
  pointers (otherwise the shipped profile), attached after the first issuances.
- **Scheduling**: other jobs share this machine. moto, the harness and the functions run
  under SCHED_FIFO when permitted (see Machine), so that a cold start does not queue
  behind a compiler; they are idle between requests.
- **Request path**: criterion, `benches/request_path.rs` (see below).
- **Size**: `zip -9` of each bootstrap; arm64 built with `--arm64` for its size only.
"""

CAVEATS = """\
## Caveats

- One machine, shared with other jobs and other tenants of its host: absolute figures,
  CPU times included, have differed by up to 2× between two full runs an hour apart (the
  floor's init CPU 1.0 ms in one, 1.7 ms in the other), while the ratios within each
  interleaved run stayed close (init 6.8× and 7.4× the floor's; first invocation 1.0× and
  1.1× a warm one). Compare figures within one report, not across reports.
  Criterion's medians move too: the same request-path benchmark has measured between 13
  and 30 µs in separate runs on this machine, each time with tight samples; every run so
  far was under the 50 µs target.
- The TLS handshake here is with a Python server on loopback: no network round trips, and
  the server's side is slower than DynamoDB's. In Lambda the first request on a fresh
  connection also pays 1–2 network round trips for TCP and TLS.
- Lambda gives a function CPU in proportion to its memory (one vCPU at 1,769 MB), so the
  token function at 512 MB gets about 29% of one: each ms of CPU here is roughly 3.5 ms
  of wall time there. The init phase is billed too: work moved to init leaves the
  request path, it does not disappear.
- Warm CPU per issuance is the most sensitive figure to the machine's other load, even
  under SCHED_FIFO: on the day of this run, shorter runs of the same build measured the
  defaults' warm issuance between 0.9 and 1.35 ms. Its ratio to the cached configuration
  (one DynamoDB request instead of two) stayed near 0.6.
- The CPU profile's kernel share is mostly the wake-ups of a process that waits on two
  local servers (the Runtime API and the DynamoDB front) per invocation; in Lambda the
  Runtime API is local too, DynamoDB is not.
"""
