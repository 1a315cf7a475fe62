#!/usr/bin/env python3
"""kvsentry serve against kvsentry hunt on the same logs: sustained throughput, alert
latency and memory over a longer run. Run by bench/serve.sh (which builds kvsentry);
results go to bench/RESULTS.md (section "serve").

Measured, on Storage-layout logs (one PT1H.json per vault and hour, as the diagnostic
setting writes them) with the seed rules and a generated indicator feed:

1. hunt: `kvsentry hunt LOGS --ti TI` (median of --runs).
2. serve, backlog: `kvsentry serve --once --flush` over the same directory from an empty
   state (median of --runs); its alert ids must equal hunt's.
3. serve, followed directory: `kvsentry serve` (loop mode, poll 100 ms) on an empty
   directory while a feeder moves the hour files in, hour after hour, as fast as serve
   takes them: events per second from the first file to the last event read.
4. latency: the same, with a pause between hours; an alert's latency is the time from the
   feeder's move of the hour that put the watermark past the alert's window end (the
   files' own newest events minus allowed_lateness) to the alert's line in the output
   file (polled every 5 ms). It includes serve's poll interval: an upper bound of the time
   from the watermark passing the window's end to the alert being written.
3b. serve from Kafka: the same logs as Event Hubs envelopes (100 records a message) in a
   librdkafka mock cluster of 4 partitions (crates/kvsentry-runtime/examples/
   serve_kafka_bench.rs), read by `kvsentry serve --once --flush`; alert ids must equal
   hunt's.
5. memory: peak RSS of a followed directory fed hour by hour with a short pause (data
   arriving steadily, each hour read in its own passes) at 1x and at 10x the hours.
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench import log, machine, machine_md, write_section  # noqa: E402

# Whole hour files appear at once (the diagnostic setting's blobs grow through their hour):
# a lateness above an hour keeps a vault's hour moved in after another's from being late.
LATENESS = "90m"
LATENESS_NS = 90 * 60 * 10**9
EVENTS_RE = re.compile(r"(\d+) event\(s\) read|\"events\":\s*(\d+)|events=(\d+)")


def gen(kv, out_dir, events, hours, seed=21):
    """Logs and indicators, reused while the parameters do not change."""
    stamp = os.path.join(out_dir, "params.json")
    params = {"events": events, "hours": hours, "seed": seed}
    if os.path.exists(stamp) and json.load(open(stamp)) == params:
        return
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    log(f"generating {events} events over {hours} h into {out_dir}")
    subprocess.run([kv, "gen", "--storage-layout", "-o", os.path.join(out_dir, "logs"),
                    "--events", str(events), "--duration", f"{hours}h", "--seed", str(seed),
                    "--scenario", "standard", "--indicators", "2000", "--match-share", "0.02",
                    "--indicators-output", os.path.join(out_dir, "ti.csv")],
                   check=True, stdout=subprocess.DEVNULL)
    json.dump(params, open(stamp, "w"))


def files_by_hour(logs):
    """{hour path part: [relative paths]} in time order."""
    out = {}
    for root, _, names in os.walk(logs):
        for n in names:
            rel = os.path.relpath(os.path.join(root, n), logs)
            m = re.search(r"y=(\d+)/m=(\d+)/d=(\d+)/h=(\d+)", rel)
            out.setdefault(m.groups() if m else ("",), []).append(rel)
    return [sorted(out[k]) for k in sorted(out)]


def count_events(logs):
    n = 0
    for hour in files_by_hour(logs):
        for rel in hour:
            with open(os.path.join(logs, rel), "rb") as f:
                n += sum(1 for line in f if line.strip())
    return n


def max_times(logs):
    """Each file's newest event time (ns), from the records' `time`."""
    out = {}
    for hour in files_by_hour(logs):
        for rel in hour:
            newest = 0
            with open(os.path.join(logs, rel), "rb") as f:
                for line in f:
                    m = re.search(rb'"time":\s*"([^"]+)"', line)
                    if m:
                        newest = max(newest, ts_ns(m.group(1).decode()))
            out[rel] = newest
    return out


def ts_ns(text):
    """RFC 3339 (Azure's 7 fractional digits) to ns since the epoch, UTC."""
    import datetime as dt
    main, _, frac = text.rstrip("Z").partition(".")
    t = dt.datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc)
    return int(t.timestamp()) * 10**9 + int((frac + "000000000")[:9])


def alert_ids(path):
    ids = set()
    if os.path.exists(path):
        for line in open(path):
            if line.strip():
                ids.add(json.loads(line)["alert_id"])
    return ids


def timed(cmd, **kw):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, **kw)
    return time.perf_counter() - t


def config(work, logs, ti, poll="100ms"):
    path = os.path.join(work, "kvsentry.toml")
    with open(path, "w") as f:
        f.write(f'state_dir = "{work}/state"\nallowed_lateness = "{LATENESS}"\n'
                f'[ti]\npaths = ["{ti}"]\n'
                f'[[input]]\nname = "logs"\ntype = "files"\npath = "{logs}"\npoll_interval = "{poll}"\n'
                f'[[output]]\ntype = "file"\npath = "{work}/alerts.jsonl"\n')
    return path


def fresh(work):
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)


def peak_rss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def follow_run(kv, set_dir, work, pause):
    """Loop-mode serve on an empty directory fed hour by hour. Returns (seconds from the
    first move to the last event read, peak RSS KiB, latencies in s, events)."""
    fresh(work)
    logs = os.path.join(set_dir, "logs")
    fed = os.path.join(work, "logs")
    os.makedirs(fed)
    staging = os.path.join(work, "staging")
    total = count_events(logs)
    hours = files_by_hour(logs)
    newest = max_times(logs) if pause else {}
    cfg = config(work, fed, os.path.join(set_dir, "ti.csv"))
    out_path = os.path.join(work, "alerts.jsonl")
    proc = subprocess.Popen([kv, "serve", "--config", cfg], stderr=subprocess.PIPE, text=True)
    read = [0]
    done = threading.Event()
    last_read = [None]

    def stderr_reader():
        for line in proc.stderr:
            m = EVENTS_RE.search(line)
            if m:
                read[0] += int(next(g for g in m.groups() if g))
                if read[0] >= total and last_read[0] is None:
                    last_read[0] = time.perf_counter()
                    done.set()

    seen = {}

    def alert_tail():
        pos = 0
        while not done.is_set() or (pause and time.perf_counter() < last_read[0] + 2):
            if os.path.exists(out_path):
                with open(out_path) as f:
                    f.seek(pos)
                    chunk = f.read()
                    cut = chunk.rfind("\n") + 1
                    pos += len(chunk[:cut].encode())
                    now = time.perf_counter()
                    for line in chunk[:cut].splitlines():
                        a = json.loads(line)
                        seen.setdefault(a["alert_id"], (now, a))
            time.sleep(0.005)

    threading.Thread(target=stderr_reader, daemon=True).start()
    tail = threading.Thread(target=alert_tail, daemon=True)
    tail.start()
    time.sleep(0.5)
    moved = []  # (perf time, watermark after this hour, ns)
    start = time.perf_counter()
    for hour in hours:
        for rel in hour:
            dst = os.path.join(fed, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            tmp = os.path.join(staging, rel)
            os.makedirs(os.path.dirname(tmp), exist_ok=True)
            shutil.copyfile(os.path.join(logs, rel), tmp)
            os.rename(tmp, dst)
        if pause:
            w = min(newest[r] for r in hour) - LATENESS_NS
            moved.append((time.perf_counter(), w))
            time.sleep(pause)
    if not done.wait(timeout=600):
        proc.kill()
        raise SystemExit(f"serve read {read[0]} of {total} events in 600 s")
    rss = peak_rss_kib(proc.pid)
    tail.join(timeout=5)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    latencies = []
    for at, a in seen.values():
        window = a.get("window")
        if not window:
            continue
        end = ts_ns(window["end"])
        due = next((t for t, w in moved if w >= end), None)
        if due is not None:
            latencies.append(at - due)
    return last_read[0] - start, rss, latencies, total


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kvsentry", required=True)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pause", type=float, default=0.3, help="seconds between hours (latency run)")
    ap.add_argument("--mem-pause", type=float, default=0.25, help="seconds between hours (memory runs)")
    ap.add_argument("--data", default=os.path.join(HERE, "data", "serve"))
    ap.add_argument("--kafka-bench", default=None, help="the serve_kafka_bench example's binary")
    ap.add_argument("--no-results", dest="write_results", action="store_false")
    args = ap.parse_args()
    kv = args.kvsentry
    mach = machine(types.SimpleNamespace(kvsentry=kv, duck_python="python3"))
    one = os.path.join(args.data, "x1")
    ten = os.path.join(args.data, "x10")
    gen(kv, one, args.events, args.hours)
    logs, ti = os.path.join(one, "logs"), os.path.join(one, "ti.csv")
    total = count_events(logs)
    work = os.path.join(args.data, "work")

    hunt_s, serve_s = [], []
    hunt_out = os.path.join(args.data, "hunt.jsonl")
    for _ in range(args.runs):
        hunt_s.append(timed([kv, "hunt", logs, "--ti", ti, "-f", "jsonl", "-q", "-o", hunt_out]))
    for _ in range(args.runs):
        fresh(work)
        cfg = config(work, logs, ti)
        serve_s.append(timed([kv, "serve", "--config", cfg, "--once", "--flush"],
                             stderr=subprocess.DEVNULL))
    want, got = alert_ids(hunt_out), alert_ids(os.path.join(work, "alerts.jsonl"))
    same = want == got
    log(f"hunt {statistics.median(hunt_s):.2f} s, serve --once --flush "
        f"{statistics.median(serve_s):.2f} s, alerts {'equal' if same else 'DIFFER'} ({len(want)})")

    kafka = None
    if args.kafka_bench:
        runs = []
        for _ in range(args.runs):
            out = subprocess.run([args.kafka_bench, kv, logs, ti, os.path.join(args.data, "kafka")],
                                 check=True, capture_output=True, text=True).stdout
            runs.append(json.loads(out.strip().splitlines()[-1]))
        kafka = {"seconds": statistics.median(r["seconds"] for r in runs),
                 "events": runs[0]["events"], "messages": runs[0]["messages"],
                 "partitions": runs[0]["partitions"],
                 "same": all(set(r["alert_ids"]) == want for r in runs)}
        same = same and kafka["same"]
        log(f"serve from kafka {kafka['seconds']:.2f} s, alerts {'equal' if kafka['same'] else 'DIFFER'}")
        shutil.rmtree(os.path.join(args.data, "kafka"), ignore_errors=True)
    follow_s, _, _, _ = follow_run(kv, one, work, 0)
    _, _, lat, _ = follow_run(kv, one, work, args.pause)
    _, rss1, _, _ = follow_run(kv, one, work, args.mem_pause)
    gen(kv, ten, args.events * 10, args.hours * 10)
    _, rss10, _, total10 = follow_run(kv, ten, work, args.mem_pause)
    # The backlog at 10x: fixed costs (start, intel, the state's commits) matter less.
    logs10, ti10 = os.path.join(ten, "logs"), os.path.join(ten, "ti.csv")
    hunt10_out = os.path.join(args.data, "hunt10.jsonl")
    hunt10 = statistics.median(
        timed([kv, "hunt", logs10, "--ti", ti10, "-f", "jsonl", "-q", "-o", hunt10_out])
        for _ in range(args.runs))
    serve10 = []
    for _ in range(args.runs):
        fresh(work)
        serve10.append(timed([kv, "serve", "--config", config(work, logs10, ti10), "--once", "--flush"],
                             stderr=subprocess.DEVNULL))
    serve10 = statistics.median(serve10)
    same10 = alert_ids(hunt10_out) == alert_ids(os.path.join(work, "alerts.jsonl"))
    same = same and same10
    shutil.rmtree(work, ignore_errors=True)

    h, s = statistics.median(hunt_s), statistics.median(serve_s)
    lat.sort()
    p = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]) if lat else (lambda q: float("nan"))
    kafka_row = "" if not kafka else (
        f"| `serve --once --flush` from Kafka ({kafka['partitions']} partitions of a mock cluster, "
        f"{kafka['messages']:,} messages) | {kafka['seconds']:.2f} s | {total / kafka['seconds']:,.0f} "
        f"| {h / kafka['seconds']:.0%} |\n")
    body = f"""## serve

`bench/serve.sh` ({args.runs} runs; method in bench/serve.py). {total:,} events in
{args.hours} hours of Storage-layout blobs, {len(files_by_hour(logs))} hour batches, seed rules
and 2,000 generated indicators.

| run | wall | events/s | share of hunt's |
|---|---:|---:|---:|
| `hunt` | {h:.2f} s | {total / h:,.0f} | 100% |
| `serve --once --flush` (backlog) | {s:.2f} s | {total / s:,.0f} | {h / s:.0%} |
| `serve`, followed directory fed hour by hour | {follow_s:.2f} s | {total / follow_s:,.0f} | {h / follow_s:.0%} |
{kafka_row}
| `hunt`, 10x ({total10:,} events over {args.hours * 10} hours) | {hunt10:.2f} s | {total10 / hunt10:,.0f} | 100% |
| `serve --once --flush`, 10x (backlog) | {serve10:.2f} s | {total10 / serve10:,.0f} | {hunt10 / serve10:.0%} |

- serve's alert ids {'equal' if same else 'DIFFER from'} hunt's ({len(want)} alerts; at 10x {'equal' if same10 else 'DIFFER'}), in every run above.
- Alert latency (followed directory, {args.pause} s between hours, {len(lat)} window alerts):
  median {p(0.5) * 1000:.0f} ms, p95 {p(0.95) * 1000:.0f} ms, max {p(1.0) * 1000:.0f} ms
  (from the move of the hour that put the watermark past the window's end to the alert's
  line in the file; includes the 100 ms poll interval).
- Peak RSS, followed directory fed hour by hour ({args.mem_pause} s between hours):
  {rss1 / 1024:.0f} MiB over {args.hours} hours ({total:,} events), {rss10 / 1024:.0f} MiB over
  {args.hours * 10} hours ({total10:,} events).

{machine_md(mach)}
"""
    print(body)
    if args.write_results:
        write_section(os.path.join(HERE, "RESULTS.md"), "serve", body)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
