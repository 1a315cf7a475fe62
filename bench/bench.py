#!/usr/bin/env python3
"""kvsentry versus DuckDB on the same Key Vault audit logs (driven by bench/run.sh).

Modes:
  (default)    ~1 GB of Storage-form JSON lines (8 days, 2 of them gzipped) + 100,000
               Sentinel indicators; kvsentry and DuckDB, --runs times each, interleaved;
               kvsentry --threads 1 against the bare serde_json parse (parse-limit).
               Writes bench/RESULTS.md (the "1 GB" section) and data/<set>/results.json.
  --smoke      ~20k events, 1k indicators, 1 run: the same steps and checks, small.
  --scale N    peak RSS of kvsentry on the 1 GB set and on an N-times larger one
               (N times as many days, same density); the large set is deleted afterwards.
  --order      kvsentry on the 1 GB set as generated (time order), reversed and shuffled:
               throughput, peak RSS and identical alerts; with --scale N also on the N-times
               set, with a memory limit that forces sorting on disk. Writes the "order"
               section of bench/RESULTS.md.

Every run's alerts are compared: kvsentry against DuckDB (threshold: window and UPN; TI:
indicator id and IP, and the latest event's time), and both against what the generators
injected (kvsentry gen's ground truth; gen_indicators.py's expected matches). Any
difference fails the benchmark (exit 1) after the results are written.

Wall time is measured around each child process; CPU time (user + system) and peak RSS come
from the kernel's accounting of that child, read through GNU time (see `measure`).
"""

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RULES_DIR = os.path.join(REPO, "crates", "kvsentry-rules", "rules")
THRESHOLD_RULE = "c07f7898-5dc3-11f0-9f27-f661ea17fbcd"
TI_RULE = "57c7e832-64eb-411f-8928-4133f01f4a25"
START = dt.datetime(2025, 7, 1, tzinfo=dt.timezone.utc)
# Injected on top of the background every day: Elastic-rule bursts of several shapes, a
# near miss of each kind, a straddling burst (tumbling windows split it) and SP/MI bursts
# (no UPN: the UPN rule must stay silent).
SCENARIOS = ["standard", "burst:user", "burst:user:12:4", "burst:user:6:2", "burst:user:20:5",
             "straddle", "sp-burst", "mi-burst"]


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- machine and environment

def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60).stdout.strip()
    except Exception:  # noqa: BLE001 - description only
        return ""


def machine(args):
    cpu = ""
    for line in sh("lscpu").splitlines():
        if line.startswith("Model name:"):
            cpu = line.split(":", 1)[1].strip()
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "cpu": cpu or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": sh(". /etc/os-release 2>/dev/null && echo $PRETTY_NAME"),
        "rustc": sh("rustc --version"),
        "python": platform.python_version(),
        "duckdb": sh(f"{args.duck_python} -c 'import duckdb; print(duckdb.__version__)'"),
        "kvsentry_commit": os.environ.get("KVSENTRY_BIN_COMMIT") or (
            sh(f"git -C {REPO} rev-parse --short HEAD")
            + ("+dirty" if sh(f"git -C {REPO} status --porcelain -- crates Cargo.lock") else "")),
        "kvsentry_bin": args.kvsentry,
        "kvsentry_version": sh(f"{args.kvsentry} --version"),
        "kvsentry_bin_built": dt.datetime.fromtimestamp(os.path.getmtime(args.kvsentry), dt.timezone.utc
                                                        ).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average_start": os.getloadavg(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


# ---------------------------------------------------------------- data

def day_files(n_days, gz_every):
    """File names in time order; every gz_every-th day gzipped (as exporters leave some)."""
    out = []
    for d in range(n_days):
        name = f"day{d + 1:03d}.jsonl"
        if gz_every and (d + 1) % gz_every == 0:
            name += ".gz"
        out.append(name)
    return out


def generate(args, set_dir, n_days, events_per_day, n_indicators, match_share, gz_every):
    """Generates (or reuses, when the manifest matches) one data set."""
    spec = {"days": n_days, "events_per_day": events_per_day, "indicators": n_indicators,
            "match_share": match_share, "gz_every": gz_every, "scenarios": SCENARIOS,
            "version": 2}
    manifest_path = os.path.join(set_dir, "manifest.json")
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            m = json.load(f)
        if m.get("spec") == spec and all(os.path.exists(os.path.join(set_dir, x)) for x in m["files"]):
            log(f"reusing {set_dir}")
            return m
    shutil.rmtree(set_dir, ignore_errors=True)
    os.makedirs(set_dir)
    files = day_files(n_days, gz_every)
    records = 0
    truth = []
    t0 = time.time()
    for d, name in enumerate(files):
        day = START + dt.timedelta(days=d)
        form = "storage.gz" if name.endswith(".gz") else "storage"
        truth_file = os.path.join(set_dir, f"truth-{d + 1:03d}.json")
        cmd = [args.kvsentry, "gen", "--form", form, "--events", str(events_per_day),
               "--duration", "1d", "--start", day.strftime("%Y-%m-%dT%H:%M:%SZ"),
               "--seed", str(d + 1), "--ground-truth", truth_file,
               "-o", os.path.join(set_dir, name)]
        for s in SCENARIOS:
            cmd += ["--scenario", s]
        r = subprocess.run(cmd, capture_output=True, text=True, check=True)
        # "kvsentry gen: 107572 records (107572 Key Vault), 124426469 bytes, ..."
        records += int(re.search(r"gen: (\d+) records", r.stderr).group(1))
        with open(truth_file) as f:
            truth.extend(json.load(f))
    paths = [os.path.join(set_dir, x) for x in files]
    raw_bytes = sum(uncompressed_size(p) for p in paths)
    disk_bytes = sum(os.path.getsize(p) for p in paths)
    log(f"generated {len(files)} log files, {records} events, {raw_bytes / 1e6:.0f} MB "
        f"({disk_bytes / 1e6:.0f} MB on disk) in {time.time() - t0:.0f}s")
    as_of = (START + dt.timedelta(days=n_days, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    expected_threshold = sorted({(w, sc["identity"]["upn"]) for sc in truth
                                 if sc.get("expected_alert", {}).get("elastic_upn_rule")
                                 for w in sc["expected_alert"].get("tumbling_windows", [])})
    ti_file = os.path.join(set_dir, "indicators.jsonl")
    ti_expected_file = os.path.join(set_dir, "indicators-expected.json")
    # Caller IPs come from (at most) the first 8 days: the pool is the same every day.
    subprocess.run([sys.executable, os.path.join(HERE, "gen_indicators.py"),
                    "--logs", *paths[:8], "--n", str(n_indicators),
                    "--match-share", str(match_share), "--as-of", as_of, "--seed", "7",
                    "-o", ti_file, "--expected", ti_expected_file], check=True)
    m = {"spec": spec, "files": files, "events": records, "raw_bytes": raw_bytes,
         "disk_bytes": disk_bytes, "as_of": as_of, "ti_file": "indicators.jsonl",
         "ti_bytes": os.path.getsize(ti_file), "ti_expected": "indicators-expected.json",
         "expected_threshold": expected_threshold}
    with open(manifest_path, "w") as f:
        json.dump(m, f, indent=1)
    return m


def uncompressed_size(path):
    if not path.endswith(".gz"):
        return os.path.getsize(path)
    import gzip
    n = 0
    with gzip.open(path, "rb") as f:
        while True:
            b = f.read(16 << 20)
            if not b:
                return n
            n += len(b)


# ---------------------------------------------------------------- measuring

GNU_TIME = "/usr/bin/time"


def measure(cmd, stdout=None):
    """Runs cmd; returns wall seconds, CPU seconds (user + sys) and peak RSS (MiB) of that
    child (and the children it waited for).

    CPU and peak RSS come from the kernel's accounting. GNU time (/usr/bin/time, which
    run.sh installs when missing) is used when present: a child forked straight from this
    Python process inherits Python's ~30 MB as its starting peak RSS, which would hide the
    small peaks of parse-limit. Without it, os.wait4 is used (peaks under ~30 MB read high).
    """
    import tempfile
    use_time = os.access(GNU_TIME, os.X_OK)
    out = open(stdout, "w") if stdout else subprocess.DEVNULL
    with tempfile.NamedTemporaryFile("r") as tf, tempfile.TemporaryFile() as errf:
        full = [GNU_TIME, "-f", "%e %U %S %M", "-o", tf.name, *cmd] if use_time else cmd
        t0 = time.perf_counter()
        p = subprocess.Popen(full, stdout=out, stderr=errf)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        errf.seek(0)
        err = errf.read().decode(errors="replace")
        timed = tf.read().strip().splitlines()
    if stdout:
        out.close()
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}:\n{err[-4000:]}")
    if use_time and timed:
        _, user, system, rss_kb = timed[-1].split()
        return {"wall_s": wall, "cpu_s": float(user) + float(system), "user_s": float(user),
                "sys_s": float(system), "peak_rss_mib": int(rss_kb) / 1024}
    return {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "user_s": ru.ru_utime,
            "sys_s": ru.ru_stime, "peak_rss_mib": ru.ru_maxrss / 1024}


def kvsentry_supports_ti(kvsentry):
    return "--ti" in subprocess.run([kvsentry, "hunt", "--help"], capture_output=True, text=True).stdout


def kvsentry_cmd(args, m, set_dir, out, threads=None, with_ti=True):
    cmd = [args.kvsentry, "hunt", *[os.path.join(set_dir, f) for f in m["files"]],
           "--no-builtin", "--rules", os.path.join(RULES_DIR, "excessive-keyvault-retrieval.yml")]
    if with_ti:
        cmd += ["--rules", os.path.join(RULES_DIR, "ti-ip-keyvault.yml"),
                "--ti", os.path.join(set_dir, m["ti_file"]), "--as-of", m["as_of"]]
    cmd += ["-f", "jsonl", "-q", "--no-progress", "-o", out]
    if threads:
        cmd += ["--threads", str(threads)]
    return cmd


def duck_cmd(args, m, set_dir, out, with_ti=True, full=False):
    cmd = [args.duck_python, os.path.join(HERE, "duck.py"),
           "--files", *[os.path.join(set_dir, f) for f in m["files"]], "--out", out]
    if full:
        cmd.append("--full-aggregates")
    if with_ti:
        cmd += ["--ti", os.path.join(set_dir, m["ti_file"]), "--as-of", m["as_of"]]
    return cmd


def warm_cache(paths):
    for p in paths:
        with open(p, "rb") as f:
            while f.read(16 << 20):
                pass


# ---------------------------------------------------------------- comparing

# The Elastic rule's VALUES() and COUNT_DISTINCT outputs, compared as sets when DuckDB
# computed them (--full-aggregates): same names in kvsentry's alert fields and in
# sql/threshold_full.sql.
VALUE_FIELDS = ("actor_name", "actor_unique_count", "app_id", "object_id", "source_ip", "actions",
                "vaults_accessed", "vault_names", "result_type", "subscription_id",
                "resource_group", "resource_ids")


def values_of(row):
    """The VALUES()/COUNT_DISTINCT outputs of one alert, order-free (None when absent)."""
    if "actions" not in row:
        return None
    return tuple(frozenset(x for x in row[k] if x is not None) if isinstance(row[k], list) else row[k]
                 for k in VALUE_FIELDS)


def kv_values(path):
    out = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                a = json.loads(line)
                if a["rule"]["id"] == THRESHOLD_RULE:
                    out[(a["window"]["start"], a["group"].get("identity", {}).get("upn"))] = values_of(a["fields"])
    return out


def kv_alerts(path):
    thr, ti = {}, {}
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            a = json.loads(line)
            rid = a["rule"]["id"]
            if rid == THRESHOLD_RULE:
                key = (a["window"]["start"], a["group"].get("identity", {}).get("upn"))
                thr[key] = (a["fields"].get("action_count"), a["fields"].get("distinct_actions"))
            elif rid == TI_RULE:
                key = (a["group"].get("indicator_id"), a["group"].get("caller", {}).get("ip"))
                ti[key] = a["fields"].get("event_time")
    return thr, ti


def duck_alerts(path):
    with open(path) as f:
        d = json.load(f)
    thr = {(r["window_start"], r["upn"]): (r["action_count"], r["distinct_actions"]) for r in d["threshold"]}
    ti = None if d["ti"] is None else {(r["indicator_id"], r["ip"]): r["event_time"] for r in d["ti"]}
    return thr, ti, d


def norm_time(t):
    """RFC 3339 text to a comparable (seconds, 100 ns ticks) pair, whatever the digits."""
    if t is None:
        return None
    t = str(t).replace(" ", "T").replace("+00:00", "Z")
    base, _, frac = t.rstrip("Z").partition(".")
    return base, (frac + "0000000")[:7]


def diff(name, a_name, a, b_name, b, limit=10):
    """Differences between two keyed result sets, as text lines (empty when equal)."""
    out = []
    only_a = sorted(set(a) - set(b), key=str)
    only_b = sorted(set(b) - set(a), key=str)
    for k in only_a[:limit]:
        out.append(f"{name}: only {a_name}: {k}")
    for k in only_b[:limit]:
        out.append(f"{name}: only {b_name}: {k}")
    if len(only_a) > limit or len(only_b) > limit:
        out.append(f"{name}: {len(only_a)} only {a_name}, {len(only_b)} only {b_name} in all")
    return out


def compare(m, set_dir, kv_out, duck_out, with_ti):
    problems = []
    kthr, kti = kv_alerts(kv_out)
    dthr, dti, d = duck_alerts(duck_out)
    problems += diff("threshold", "kvsentry", kthr, "duckdb", dthr)
    for k in set(kthr) & set(dthr):
        if tuple(kthr[k]) != tuple(dthr[k]):
            problems.append(f"threshold {k}: kvsentry count/distinct {kthr[k]}, duckdb {dthr[k]}")
    truth = {tuple(x): None for x in m["expected_threshold"]}
    problems += diff("threshold", "kvsentry", kthr, "ground truth", truth)
    dvals = {(r["window_start"], r["upn"]): values_of(r) for r in d["threshold"]}
    if any(v is not None for v in dvals.values()):
        kvals = kv_values(kv_out)
        for k in sorted(set(kvals) & set(dvals), key=str):
            if kvals[k] != dvals[k]:
                problems.append(f"threshold {k}: VALUES() differ: kvsentry {kvals[k]}, duckdb {dvals[k]}")
    with open(os.path.join(set_dir, m["ti_expected"])) as f:
        exp = {(e["indicator_id"], e["ip"]): None for e in json.load(f)["expected"]}
    if dti is not None:
        problems += diff("ti", "duckdb", dti, "expected", exp)
    if with_ti:
        problems += diff("ti", "kvsentry", kti, "duckdb", dti or {})
        for k in set(kti) & set(dti or {}):
            if norm_time(kti[k]) != norm_time(dti[k]):
                problems.append(f"ti {k}: latest event kvsentry {kti[k]}, duckdb {dti[k]}")
    summary = {"threshold_alerts_kvsentry": len(kthr), "threshold_alerts_duckdb": len(dthr),
               "threshold_expected": len(truth), "ti_alerts_kvsentry": len(kti) if with_ti else None,
               "ti_alerts_duckdb": None if dti is None else len(dti), "ti_expected": len(exp),
               "duckdb_rows_loaded": d["rows_loaded"]}
    return problems, summary


# ---------------------------------------------------------------- modes

def med(xs):
    return statistics.median(xs) if xs else None


def run_compare(args, set_dir, m, runs):
    with_ti = kvsentry_supports_ti(args.kvsentry)
    if not with_ti:
        log("this kvsentry has no `hunt --ti`: timing the threshold rule only on both sides "
            "(DuckDB's TI query is still checked against the expected matches once)")
    paths = [os.path.join(set_dir, f) for f in m["files"]]
    warm_cache(paths + [os.path.join(set_dir, m["ti_file"])])
    res = {k: [] for k in ("kvsentry", "duckdb", "duckdb_full", "kvsentry_1t", "kvsentry_ti_load",
                           "parse_rawmap", "parse_ignored", "parse_read")}
    problems = []
    summary = None
    ti_check = None
    for r in range(runs):
        kv_out = os.path.join(set_dir, f"alerts-kvsentry-{r}.jsonl")
        duck_out = os.path.join(set_dir, f"alerts-duckdb-{r}.json")
        duckf_out = os.path.join(set_dir, f"alerts-duckdb-full-{r}.json")
        kv1_out = os.path.join(set_dir, f"alerts-kvsentry-1t-{r}.jsonl")
        # Interleaved, so drifting load on a shared machine hits every tool alike.
        res["kvsentry"].append(measure(kvsentry_cmd(args, m, set_dir, kv_out, with_ti=with_ti)))
        res["duckdb"].append(measure(duck_cmd(args, m, set_dir, duck_out, with_ti=with_ti)))
        res["duckdb_full"].append(measure(duck_cmd(args, m, set_dir, duckf_out, with_ti=with_ti, full=True)))
        res["kvsentry_1t"].append(measure(kvsentry_cmd(args, m, set_dir, kv1_out, threads=1, with_ti=with_ti)))
        if with_ti:
            # The fixed cost inside kvsentry's time: loading and selecting the indicators.
            res["kvsentry_ti_load"].append(measure(
                [args.kvsentry, "ti", "stats", os.path.join(set_dir, m["ti_file"]), "--as-of", m["as_of"]]))
        if args.parse_limit:
            res["parse_rawmap"].append(measure([args.parse_limit, *paths]))
            res["parse_ignored"].append(measure([args.parse_limit, "--mode", "ignored", *paths]))
            res["parse_read"].append(measure([args.parse_limit, "--mode", "read", *paths]))
        p, summary = compare(m, set_dir, kv_out, duck_out, with_ti)
        problems += [f"run {r + 1}: {x}" for x in p]
        pf, _ = compare(m, set_dir, kv_out, duckf_out, with_ti)
        problems += [f"run {r + 1} (DuckDB full aggregates): {x}" for x in pf]
        if r == 0 and with_ti is False:
            # DuckDB's TI answer, outside the timed runs, against the generator's oracle.
            ti_out = os.path.join(set_dir, "alerts-duckdb-ti-check.json")
            subprocess.run(duck_cmd(args, m, set_dir, ti_out, with_ti=True), check=True)
            p, s2 = compare(m, set_dir, kv_out, ti_out, False)
            problems += [f"ti check: {x}" for x in p if x.startswith("ti")]
            ti_check = s2["ti_alerts_duckdb"]
        kv1_thr, kv1_ti = kv_alerts(kv1_out)
        kv_thr, kv_ti = kv_alerts(kv_out)
        if kv1_thr != kv_thr or kv1_ti != kv_ti:
            problems.append(f"run {r + 1}: kvsentry --threads 1 alerts differ from the parallel run")
        k, d = res["kvsentry"][-1], res["duckdb"][-1]
        log(f"run {r + 1}/{runs}: kvsentry {k['wall_s']:.2f}s, duckdb {d['wall_s']:.2f}s "
            f"(x{d['wall_s'] / k['wall_s']:.2f}), kvsentry -j1 {res['kvsentry_1t'][-1]['wall_s']:.2f}s"
            + (f", parse-limit {res['parse_rawmap'][-1]['wall_s']:.2f}s" if args.parse_limit else "")
            + (f"; {len(p)} difference(s)" if p else "; alerts identical"))
    if ti_check is not None:
        summary["ti_alerts_duckdb"] = ti_check
    return {"with_ti": with_ti, "runs": res, "problems": problems, "alerts": summary}


def stats(m, runs):
    def tool(rs):
        if not rs:
            return None
        w = med([x["wall_s"] for x in rs])
        return {"wall_s": w, "cpu_s": med([x["cpu_s"] for x in rs]),
                "peak_rss_mib": med([x["peak_rss_mib"] for x in rs]),
                "peak_rss_mib_max": max(x["peak_rss_mib"] for x in rs),
                "wall_s_min": min(x["wall_s"] for x in rs), "wall_s_max": max(x["wall_s"] for x in rs),
                "mb_per_s": m["raw_bytes"] / 1e6 / w, "events_per_s": m["events"] / w}
    out = {k: tool(v) for k, v in runs.items()}
    pairs = list(zip(runs["kvsentry"], runs["duckdb"]))
    out["ratio_wall_duckdb_over_kvsentry"] = med([d["wall_s"] / k["wall_s"] for k, d in pairs])
    out["ratio_cpu_duckdb_over_kvsentry"] = med([d["cpu_s"] / k["cpu_s"] for k, d in pairs])
    out["ratio_rss_duckdb_over_kvsentry"] = med([d["peak_rss_mib"] / k["peak_rss_mib"] for k, d in pairs])
    pairs = list(zip(runs["kvsentry"], runs["duckdb_full"]))
    out["ratio_wall_duckdb_full_over_kvsentry"] = med([d["wall_s"] / k["wall_s"] for k, d in pairs])
    out["ratio_cpu_duckdb_full_over_kvsentry"] = med([d["cpu_s"] / k["cpu_s"] for k, d in pairs])
    if runs["parse_rawmap"]:
        out["kvsentry_1t_share_of_parse_limit_pct"] = med(
            [100 * p["wall_s"] / k["wall_s"] for k, p in zip(runs["kvsentry_1t"], runs["parse_rawmap"])])
        out["kvsentry_1t_share_of_parse_ignored_pct"] = med(
            [100 * p["wall_s"] / k["wall_s"] for k, p in zip(runs["kvsentry_1t"], runs["parse_ignored"])])
    return out


def fmt_table(m, st):
    rows = [("kvsentry hunt (all cores)", st["kvsentry"]), ("DuckDB (read_json + SQL)", st["duckdb"]),
            ("DuckDB, with the Elastic rule's VALUES() outputs", st["duckdb_full"]),
            ("kvsentry hunt --threads 1", st["kvsentry_1t"]),
            ("of which: indicator load + selection (`kvsentry ti stats`)", st["kvsentry_ti_load"]),
            ("parse-limit, RawValue map (1 core)", st["parse_rawmap"]),
            ("parse-limit, IgnoredAny (1 core)", st["parse_ignored"]),
            ("read-limit: read, gunzip, UTF-8 check, cut lines; no JSON (1 core)", st["parse_read"])]
    lines = ["| | wall s (median) | min-max | CPU s | peak RSS MiB | MB/s | events/s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, s in rows:
        if s:
            rates = ("- | -" if name.startswith("of which") else
                     f"{s['mb_per_s']:.0f} | {s['events_per_s']:,.0f}")
            lines.append(f"| {name} | {s['wall_s']:.2f} | {s['wall_s_min']:.2f}-{s['wall_s_max']:.2f} | "
                         f"{s['cpu_s']:.2f} | {s['peak_rss_mib']:.0f} | {rates} |")
    return "\n".join(lines)


def machine_md(mach):
    la = ", ".join(f"{x:.2f}" for x in mach["load_average_start"])
    lae = ", ".join(f"{x:.2f}" for x in mach.get("load_average_end", []))
    return (f"- CPU: {mach['cpu']}, {mach['cores']} logical cores; {mach['memory_gib']} GiB RAM\n"
            f"- {mach['os']}, kernel {mach['kernel']}; {mach['rustc']}; Python {mach['python']}, "
            f"DuckDB {mach['duckdb']}\n"
            f"- kvsentry: {mach['kvsentry_version']}, binary built {mach['kvsentry_bin_built']} "
            f"from commit {mach['kvsentry_commit']}; run {mach['date']}\n"
            f"- load average (1, 5, 15 min) at start {la}; at end {lae}")


def write_section(md_path, marker, body):
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    text = open(md_path).read() if os.path.exists(md_path) else (
        "# kvsentry benchmark results\n\nWritten by `bench/run.sh` (method: bench/README.md). "
        "Each section is replaced by the next run of its mode.\n\n"
        "<!-- full:begin -->\n<!-- full:end -->\n\n<!-- scale:begin -->\n<!-- scale:end -->\n")
    if begin not in text:
        text += f"\n{begin}\n{end}\n"
    pre, rest = text.split(begin, 1)
    _, post = rest.split(end, 1)
    with open(md_path, "w") as f:
        f.write(f"{pre}{begin}\n{body.strip()}\n{end}{post}")


def compare_mode(args, mach, set_name, days, per_day, n_ind, share, gz_every):
    set_dir = os.path.join(args.data, set_name)
    m = generate(args, set_dir, days, per_day, n_ind, share, gz_every)
    res = run_compare(args, set_dir, m, args.runs)
    st = stats(m, res["runs"])
    mach["load_average_end"] = os.getloadavg()
    result = {"mode": set_name, "machine": mach, "data": {k: m[k] for k in (
        "files", "events", "raw_bytes", "disk_bytes", "as_of", "ti_bytes")}, **res, "stats": st}
    with open(os.path.join(set_dir, "results.json"), "w") as f:
        json.dump(result, f, indent=1)
    n_gz = sum(f.endswith(".gz") for f in m["files"])
    a = res["alerts"]
    ti_note = ("" if res["with_ti"] else
               "\n**This kvsentry build has no `hunt --ti` yet: both tools were timed on the "
               "threshold rule only; DuckDB's TI query was checked (untimed) against the "
               "expected matches.**\n")
    body = f"""
## {set_name}: {m['raw_bytes'] / 1e9:.2f} GB, {m['events']:,} events, {args.runs} run(s)

{machine_md(mach)}

Input: {len(m['files'])} Storage-form JSON-lines files ({n_gz} gzipped; {m['disk_bytes'] / 1e6:.0f} MB on
disk, {m['raw_bytes'] / 1e6:.0f} MB uncompressed: MB/s below are of uncompressed log bytes), and
{n_ind:,} Sentinel indicators ({m['ti_bytes'] / 1e6:.0f} MB JSON lines, as of {m['as_of']}).
Warm page cache; tools interleaved within each run; medians over the runs.
{ti_note}
{fmt_table(m, st)}

- **Speed-up of kvsentry over DuckDB (DuckDB wall time / kvsentry wall time, median of the
  per-run ratios): {st['ratio_wall_duckdb_over_kvsentry']:.2f}x** ({'kvsentry faster' if st['ratio_wall_duckdb_over_kvsentry'] > 1 else 'DuckDB faster'});
  CPU time DuckDB / kvsentry: {st['ratio_cpu_duckdb_over_kvsentry']:.2f}x; peak RSS DuckDB / kvsentry: {st['ratio_rss_duckdb_over_kvsentry']:.2f}x.
- Against DuckDB computing the same alert contents as kvsentry (the Elastic rule's whole
  STATS clause: VALUES() of UPN, app id, object id, IP, actions, vaults, result types,
  subscription, resource group, resource ids, over the alerting windows' events; checked
  equal to kvsentry's as sets): **{st['ratio_wall_duckdb_full_over_kvsentry']:.2f}x**
  wall, {st['ratio_cpu_duckdb_full_over_kvsentry']:.2f}x CPU.
"""
    if st.get("kvsentry_1t_share_of_parse_limit_pct"):
        body += (f"- **kvsentry on 1 core runs at {st['kvsentry_1t_share_of_parse_limit_pct']:.0f}% of the speed of "
                 f"bare serde_json parsing** (parse-limit, top-level `RawValue` map; "
                 f"{st['kvsentry_1t_share_of_parse_ignored_pct']:.0f}% of an `IgnoredAny` syntax-only parse).\n")
    if st.get("parse_read"):
        # The floor of any tool that reads these files: the bytes must be read, gunzipped and
        # cut into lines before a single record is looked at, on at most `cores` cores.
        cores = mach["cores"]
        floor = st["parse_read"]["cpu_s"] / cores
        d5 = st["duckdb"]["wall_s"] / 5
        ti = st.get("kvsentry_ti_load")
        ti_note = f" (plus {ti['cpu_s']:.2f} CPU s to load the indicators)" if ti else ""
        body += (f"- **Floor**: reading the files without parsing any JSON takes "
                 f"{st['parse_read']['cpu_s']:.2f} CPU s (read-limit), so on {cores} cores no tool "
                 f"can finish in less than {floor:.2f} s wall{ti_note}. 5x DuckDB's minimal query "
                 f"would be {d5:.2f} s, {100 * floor / d5:.0f}% of which reading alone would take. "
                 f"kvsentry's wall time is {st['kvsentry']['wall_s'] / floor:.1f}x the read floor.\n")
    body += (f"- Alerts: threshold kvsentry {a['threshold_alerts_kvsentry']}, DuckDB "
             f"{a['threshold_alerts_duckdb']}, injected {a['threshold_expected']}; TI kvsentry "
             f"{a['ti_alerts_kvsentry'] if a['ti_alerts_kvsentry'] is not None else 'n/a'}, DuckDB "
             f"{a['ti_alerts_duckdb']}, expected {a['ti_expected']}.\n")
    body += ("- **Alert sets identical in every run.**\n" if not res["problems"] else
             "- **Differences:**\n" + "".join(f"  - {p}\n" for p in res["problems"][:40]))
    print(body)
    if args.write_results:
        write_section(os.path.join(HERE, "RESULTS.md"), "full", body)
    return 1 if res["problems"] else 0


def scale_mode(args, mach, factor):
    """Peak RSS of kvsentry at 1x and factor x the data, with both seed rules (the indicator
    set is the same size at both scales) and with the threshold rule alone (no indicators:
    what the log pipeline and windows alone keep)."""
    base_dir = os.path.join(args.data, "1gb")
    big_dir = os.path.join(args.data, f"{factor}x")
    m1 = generate(args, base_dir, 8, args.events_per_day, 100_000, 0.005, 3)
    with_ti = kvsentry_supports_ti(args.kvsentry)
    # (label, with indicators, threads): all cores, and one thread, where no in-flight
    # chunks wait for a descheduled worker (their number is bounded, their timing is not).
    configs = ([("both seed rules", True, None)] if with_ti else []) + [
        ("threshold rule only", False, None), ("threshold rule only, --threads 1", False, 1)]
    sets = [("1x", base_dir, m1)]
    rows = {}
    try:
        mb = generate(args, big_dir, 8 * factor, args.events_per_day, 100_000, 0.005, 3)
        sets.append((f"{factor}x", big_dir, mb))
        for name, d, m in sets:
            for cname, ti, threads in configs:
                rs = []
                for r in range(args.runs):
                    out = os.path.join(d, "alerts-scale.jsonl")
                    rs.append(measure(kvsentry_cmd(args, m, d, out, threads=threads, with_ti=ti)))
                    log(f"scale {name}, {cname}, run {r + 1}: {rs[-1]['wall_s']:.1f}s, "
                        f"peak RSS {rs[-1]['peak_rss_mib']:.0f} MiB")
                rows[(name, cname)] = (m, rs)
    finally:
        if not args.keep_data:
            shutil.rmtree(big_dir, ignore_errors=True)
            log(f"deleted {big_dir}")
    mach["load_average_end"] = os.getloadavg()
    lines = ["| rules | input | events | GB (uncompressed) | peak RSS MiB (median) | max | wall s (median) | MB/s |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    verdicts = []
    ok = True
    for cname, _, _ in configs:
        for name in ("1x", f"{factor}x"):
            m, rs = rows[(name, cname)]
            w = med([x["wall_s"] for x in rs])
            lines.append(f"| {cname} | {name} | {m['events']:,} | {m['raw_bytes'] / 1e9:.2f} | "
                         f"{med([x['peak_rss_mib'] for x in rs]):.0f} | {max(x['peak_rss_mib'] for x in rs):.0f} | "
                         f"{w:.1f} | {m['raw_bytes'] / 1e6 / w:.0f} |")
        r1 = med([x["peak_rss_mib"] for x in rows[("1x", cname)][1]])
        rn = med([x["peak_rss_mib"] for x in rows[(f"{factor}x", cname)][1]])
        growth = 100 * (rn / r1 - 1)
        ok = ok and abs(growth) <= 10
        verdicts.append(f"- **{cname}: peak RSS at {factor}x versus 1x: {growth:+.1f}%** "
                        f"({'within' if abs(growth) <= 10 else 'NOT within'} the 10% target).")
    body = f"""
## Memory at scale: kvsentry on 1 GB and {factor} x 1 GB, {args.runs} run(s) each

{machine_md(mach)}

Same density (events per day), {factor} times the days, same 100,000 indicators; all cores
unless `--threads 1` is shown. With several threads, up to 4 x threads chunks of input are in
flight, and how many of them are waiting at the peak depends on scheduling: on a loaded
machine that moves the peak by several MiB from run to run, at any input size.

{chr(10).join(lines)}

{chr(10).join(verdicts)}
"""
    print(body)
    with open(os.path.join(args.data, f"scale-{factor}x-results.json"), "w") as f:
        json.dump({"machine": mach, "runs": {f"{k[0]} {k[1]}": v[1] for k, v in rows.items()}}, f, indent=1)
    if args.write_results:
        write_section(os.path.join(HERE, "RESULTS.md"), "scale", body)
    return 0 if ok else 1


def write_variant(m, set_dir, out_dir, how, seed=11):
    """Writes the set's records, uncompressed, in another order: "ordered" (as generated),
    "reversed" (last record first, file names in reverse time order) or "shuffled" (each
    day's records shuffled, days in random order). Returns the file names."""
    import gzip
    import random
    if os.path.exists(os.path.join(out_dir, "done")):
        with open(os.path.join(out_dir, "done")) as f:
            return json.load(f)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    rng = random.Random(seed)
    days = list(m["files"])
    n = len(days)
    order = list(range(n))
    if how == "reversed":
        order.reverse()
    elif how == "shuffled":
        rng.shuffle(order)
    names = []
    for rank, d in enumerate(order):
        src = os.path.join(set_dir, days[d])
        opener = gzip.open if src.endswith(".gz") else open
        with opener(src, "rb") as f:
            lines = f.read().splitlines(keepends=True)
        if how == "reversed":
            lines.reverse()
        elif how == "shuffled":
            rng.shuffle(lines)
        # Names sort in the variant's order, so kvsentry (which reads inputs by name) sees
        # the records in exactly this order.
        name = f"part{rank + 1:03d}.jsonl"
        with open(os.path.join(out_dir, name), "wb") as f:
            f.writelines(lines)
        names.append(name)
        del lines
    with open(os.path.join(out_dir, "done"), "w") as f:
        json.dump(names, f)
    return names


def order_mode(args, mach, factor):
    """Throughput and peak memory of kvsentry on one data set in time order, reversed and
    shuffled; the alerts of every variant must equal those of the ordered input."""
    sets = [("1 GB", "1gb", 8, None)]
    if factor:
        sets.append((f"{factor} GB", f"{factor}x", 8 * factor, "1GiB"))
    lines = ["| data | order | memory limit | wall s (median) | MB/s | peak RSS MiB | sorted on disk | alerts | identical |",
             "|---|---|---|---:|---:|---:|---:|---:|---|"]
    ok = True
    for label, name, days, limit in sets:
        set_dir = os.path.join(args.data, name)
        m = generate(args, set_dir, days, args.events_per_day, 100_000, 0.005, 3)
        reference = None
        for how in ("ordered", "reversed", "shuffled"):
            vdir = os.path.join(args.data, f"{name}-{how}")
            log(f"writing the {how} variant of {label}")
            files = write_variant(m, set_dir, vdir, how)
            # Files from the variant's folder, indicators from the set's (an absolute path).
            vm = dict(m, files=files, ti_file=os.path.join(set_dir, m["ti_file"]))
            out = os.path.join(vdir, "alerts.jsonl")
            rs = []
            for r in range(args.runs):
                cmd = kvsentry_cmd(args, vm, vdir, out)
                if limit:
                    cmd += ["--memory-limit", limit]
                res = measure(cmd)
                rs.append(res)
                log(f"order {label} {how} run {r + 1}: {res['wall_s']:.2f}s, "
                    f"peak RSS {res['peak_rss_mib']:.0f} MiB")
            spilled = spilled_rows(args, vm, vdir, limit)
            with open(out) as f:
                alerts = sorted(json.dumps(strip_sources(json.loads(x)), sort_keys=True)
                                for x in f if x.strip())
            if reference is None:
                reference = alerts
            same = alerts == reference
            ok = ok and same
            w = med([x["wall_s"] for x in rs])
            lines.append(f"| {label} | {how} | {limit or 'default (1 GiB)'} | {w:.2f} | "
                         f"{m['raw_bytes'] / 1e6 / w:.0f} | "
                         f"{med([x['peak_rss_mib'] for x in rs]):.0f} | {spilled} | {len(alerts)} | "
                         f"{'yes' if same else 'NO'} |")
            if not args.keep_data and how != "ordered":
                shutil.rmtree(vdir, ignore_errors=True)
        if not args.keep_data:
            shutil.rmtree(os.path.join(args.data, f"{name}-ordered"), ignore_errors=True)
            if name != "1gb":
                shutil.rmtree(set_dir, ignore_errors=True)
    mach["load_average_end"] = os.getloadavg()
    body = f"""
## Input order: kvsentry on time-ordered, reversed and shuffled input, {args.runs} run(s) each

{machine_md(mach)}

The same records, uncompressed, in three orders: as generated (time order), reversed (last
record first) and shuffled (each day's records shuffled, days in random order); both seed
rules with 100,000 indicators, all cores. Out-of-order input is read twice: a streaming pass
stops at the first event more than two hours out of order, and the sorting pass holds the
rows the rules need (in memory up to the memory limit, beyond it in sorted runs on disk).
"identical" compares every alert, evidence included (less its `file:line`), with the
time-ordered input's.

{chr(10).join(lines)}
"""
    print(body)
    if args.write_results:
        write_section(os.path.join(HERE, "RESULTS.md"), "order", body)
    return 0 if ok else 1


def strip_sources(alert):
    for e in alert.get("evidence", []):
        e.pop("source", None)
    return alert


def spilled_rows(args, m, set_dir, limit):
    """Rows a hunt sorted on disk (from its summary), "-" when it sorted none."""
    cmd = kvsentry_cmd(args, m, set_dir, os.devnull)
    cmd = [c for c in cmd if c != "-q"]
    if limit:
        cmd += ["--memory-limit", limit]
    err = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    for line in err.splitlines():
        spilled = re.search(r"\((\d+) spilled to disk in (\d+) run\(s\), ([\d.]+) MB\)", line)
        if spilled:
            rows, runs, mb = spilled.groups()
            return f"{int(rows):,} rows, {runs} runs, {float(mb):,.0f} MB"
        if "sorted by time" in line:
            return "0 (sorted in memory)"
    return "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--scale", type=int, default=0)
    ap.add_argument("--order", action="store_true")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--kvsentry", required=True)
    ap.add_argument("--parse-limit", default=None)
    ap.add_argument("--duck-python", required=True)
    ap.add_argument("--data", default=os.path.join(HERE, "data"))
    ap.add_argument("--events-per-day", type=int, default=107_500)
    ap.add_argument("--keep-data", action="store_true")
    ap.add_argument("--no-results", dest="write_results", action="store_false",
                    help="do not rewrite bench/RESULTS.md")
    args = ap.parse_args()
    if args.runs is None:
        args.runs = 1 if args.smoke else 5
    os.makedirs(args.data, exist_ok=True)
    mach = machine(args)
    if args.smoke:
        args.write_results = False
        return compare_mode(args, mach, "smoke", 2, 10_000, 1_000, 0.05, 2)
    if args.order:
        return order_mode(args, mach, args.scale)
    if args.scale:
        return scale_mode(args, mach, args.scale)
    return compare_mode(args, mach, "1gb", 8, args.events_per_day, 100_000, 0.005, 3)


if __name__ == "__main__":
    sys.exit(main())
