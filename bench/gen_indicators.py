#!/usr/bin/env python3
"""Sentinel ThreatIntelligenceIndicator export (JSON lines) for the benchmark.

kvsentry-gen has `gen_indicators` but no CLI for it yet, so this script writes the same kind
of table: N indicator ids, a known share of them (`--match-share`) on caller IPs that really
occur in the generated logs, and adversarial versions around the Sentinel rule's selection
(run as of `--as-of T`):

  variant          versions                                        selected at T?
  live             1-3, public, active, expiring after T           yes
  reactivated      older inactive, latest active                   yes
  private_latest   older public; latest on an RFC 1918 address     yes (the public-only filter
                   (the KQL filters addresses before arg_max)          runs before arg_max, so
                                                                       the older version wins)
  future           latest generated after T (inactive)             yes (a run at T cannot see
                                                                       it; the older one counts)
  straddle         oldest outside the 14-day look-back             yes (latest inside)
  inactive_latest  latest inactive                                 no
  expired          latest expired before T                         no
  stale            every version older than T - 14d                no
  non_global       RFC 1918 or 127.0.0.0/8 address                 no
  plus N/10 rows without any IP (domains, URLs, file hashes)       no (no IP)

Only IPv4 is used, and only addresses that are either plainly public or RFC 1918/loopback,
so Sentinel's literal filter (`ipv4_is_private`, `fe80`, `::`, `127.`) and kvsentry's
"every non-global address" filter agree. Each indicator id has its own address (no two ids
share an IP), so Sentinel's `innerunique` de-duplication of the indicator side changes
nothing.

Also writes `--expected FILE`: the (IndicatorId, IP) pairs the rule must report, computed
from the variants and the set of caller IPs in the logs (an oracle independent of both
kvsentry and DuckDB).
"""

import argparse
import datetime as dt
import gzip
import ipaddress
import json
import random
import re
import sys

# The export's columns a reader of this rule touches, plus the usual provenance columns
# (the full table has 60-odd, almost all empty for IP indicators).
COLUMNS = [
    "TenantId", "TimeGenerated", "SourceSystem", "Action", "ActivityGroupNames", "AzureTenantId",
    "ConfidenceScore", "Description", "ExternalIndicatorId", "ExpirationDateTime", "IndicatorId",
    "ThreatType", "Active", "Tags", "TrafficLightProtocolLevel", "EmailSourceIpAddress",
    "DomainName", "NetworkIP", "NetworkDestinationIP", "NetworkSourceIP", "Url",
    "IndicatorProvider", "Type",
]
TIME_COLUMNS = {"TimeGenerated", "ExpirationDateTime"}
IP_COLUMNS = ["NetworkIP", "NetworkDestinationIP", "NetworkSourceIP", "EmailSourceIpAddress"]

SELECTED = {"live", "reactivated", "private_latest", "future", "straddle"}
VARIANTS = [  # (name, weight)
    ("live", 44), ("reactivated", 8), ("private_latest", 5), ("future", 4), ("straddle", 5),
    ("inactive_latest", 10), ("expired", 10), ("stale", 6), ("non_global", 8),
]
# First octets of ordinary public unicast space (cloud, ISP and hosting ranges): addresses
# built on them are global under every definition (no special-purpose block starts here).
PUBLIC_FIRST_OCTETS = [5, 23, 31, 37, 45, 46, 62, 77, 78, 80, 81, 82, 83, 84, 85, 86, 87, 88,
                       89, 91, 93, 94, 95, 109, 141, 146, 176, 178, 185, 188, 193, 194, 195,
                       212, 213, 217]
CALLER_RX = re.compile(rb'"callerIpAddress":"([^"]*)"')
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


def caller_ips(paths):
    """Every callerIpAddress in the logs (a byte regex: far faster than parsing JSON)."""
    ips = set()
    for p in paths:
        opener = gzip.open if p.endswith(".gz") else open
        with opener(p, "rb") as f:
            while True:
                block = f.read(64 << 20)
                if not block:
                    break
                # Finish the last line so no record is cut in two.
                block += f.readline()
                ips.update(m.group(1).decode() for m in CALLER_RX.finditer(block))
    return ips


def plainly_public_v4(text):
    try:
        a = ipaddress.ip_address(text)
    except ValueError:
        return False
    return (a.version == 4 and a.is_global and not a.is_multicast and not a.is_reserved
            and 1 <= int(str(a).split(".")[0]) <= 223 and str(a) == text)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def ms(t):
    return t.replace(microsecond=(t.microsecond // 1000) * 1000)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--logs", nargs="+", required=True, help="log files to take caller IPs from")
    ap.add_argument("--n", type=int, default=100_000, help="indicator ids")
    ap.add_argument("--match-share", type=float, default=0.005)
    ap.add_argument("--as-of", required=True, help="the Sentinel run time T (RFC 3339)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--expected", required=True)
    a = ap.parse_args()

    rng = random.Random(a.seed)
    at = dt.datetime.fromisoformat(a.as_of.replace("Z", "+00:00")).astimezone(dt.timezone.utc)
    log_ips = caller_ips(a.logs)
    pool = sorted(ip for ip in log_ips if plainly_public_v4(ip))
    rng.shuffle(pool)
    n_match = round(a.n * a.match_share)
    if n_match > len(pool):
        print(f"gen_indicators: only {len(pool)} public IPv4 caller IPs in the logs; "
              f"{n_match} matching indicators asked, using {len(pool)}", file=sys.stderr)
        n_match = len(pool)
    matching = set(rng.sample(range(a.n), n_match))
    used = set(log_ips)

    def fresh_public():
        while True:
            ip = f"{rng.choice(PUBLIC_FIRST_OCTETS)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            if ip not in used:
                used.add(ip)
                return ip

    def private():
        k = rng.randrange(4)
        if k == 0:
            return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        if k == 1:
            return f"172.{rng.randrange(16, 32)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        if k == 2:
            return f"192.168.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        return f"127.0.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    tenant = "bd8094d6-6c24-4019-bee6-8afe113ed2df"
    names, weights = zip(*VARIANTS)
    expected = []
    counts = {}
    n_rows = 0
    with open(a.output, "w") as out:
        def row(ind_id, ext, t, exp, active, ip, column, threat, conf, desc):
            nonlocal n_rows
            r = {c: (None if c in TIME_COLUMNS else "") for c in COLUMNS}
            r.update({
                "TenantId": tenant, "TimeGenerated": iso(t),
                "SourceSystem": "Microsoft Defender Threat Intelligence", "Action": "alert",
                "AzureTenantId": tenant, "ConfidenceScore": conf, "Description": desc,
                "ExternalIndicatorId": ext, "ExpirationDateTime": iso(exp),
                "IndicatorId": ind_id, "ThreatType": threat, "Active": active,
                "TrafficLightProtocolLevel": "green", "Type": "ThreatIntelligenceIndicator",
            })
            if ip is not None:
                r[column] = ip
            out.write(json.dumps(r, separators=(",", ":")) + "\n")
            n_rows += 1

        for i in range(a.n):
            is_match = i in matching
            variant = rng.choices(names, weights)[0]
            if is_match and variant == "non_global":
                variant = "live"
            counts[variant] = counts.get(variant, 0) + 1
            ip = pool.pop() if is_match else (private() if variant == "non_global" else fresh_public())
            ind_id = "%032X%032X" % (rng.getrandbits(128), rng.getrandbits(128))
            ext = f"indicator--{rng.getrandbits(128):032x}"
            column = rng.choices(IP_COLUMNS, [60, 15, 15, 10])[0]
            threat = rng.choice(["Botnet", "C2", "MaliciousIP", "Proxy", "WatchList"])
            conf = rng.choice([50, 75, 80, 100])
            desc = rng.choice([
                "MSTIC HoneyPot: An attacker used a brute force attack to gain access to a service or device",
                "Please read the linked article(s) for more information on this threat.",
            ])
            n_versions = 2 + rng.randrange(2) if variant in (
                "reactivated", "inactive_latest", "private_latest", "future", "straddle") else 1 + rng.randrange(3)
            if variant == "stale":
                latest = at - 15 * DAY - rng.random() * 20 * DAY
            elif variant == "straddle":
                latest = at - HOUR - rng.random() * 5 * DAY
            else:
                latest = at - HOUR - rng.random() * 12 * DAY
            times = [ms(latest)]
            for _ in range(n_versions - 1):
                gap = (HOUR + rng.random() * 3 * DAY) if variant != "straddle" else (10 * DAY + rng.random() * 3 * DAY)
                times.insert(0, ms(times[0] - gap))
            if variant == "future":
                times[-1] = ms(at + HOUR + rng.random() * 2 * DAY)
                times.sort()
            for v, t in enumerate(times):
                is_latest = v == len(times) - 1
                active = {"inactive_latest": not is_latest, "reactivated": is_latest,
                          "future": not is_latest}.get(variant, True)
                if variant == "expired":
                    exp = ms(at - dt.timedelta(milliseconds=1) - rng.random() * 5 * DAY)
                else:
                    exp = ms(at + 30 * DAY + rng.random() * 365 * DAY)
                v_ip = private() if (variant == "private_latest" and is_latest) else ip
                row(ind_id, ext, t, exp, active, v_ip, column, threat, conf, desc)
            if is_match and variant in SELECTED:
                expected.append({"indicator_id": ind_id, "ip": ip})
        # Indicators without any IP (domains, URLs, file hashes): skipped by both.
        for k in range(a.n // 10):
            t = ms(at - HOUR - rng.random() * 10 * DAY)
            r_id = "%032X%032X" % (rng.getrandbits(128), rng.getrandbits(128))
            row(r_id, f"indicator--{rng.getrandbits(128):032x}", t, ms(at + 90 * DAY), True, None,
                "NetworkIP", "Phishing", 75, "Please read the linked article(s).")
    expected.sort(key=lambda e: (e["indicator_id"], e["ip"]))
    with open(a.expected, "w") as f:
        json.dump({"as_of": a.as_of, "indicators": a.n, "rows": n_rows, "matching_ids": n_match,
                   "log_caller_ips": len(log_ips), "variants": counts, "expected": expected}, f, indent=1)
    print(f"gen_indicators: {a.n} indicators ({n_rows} rows), {n_match} on log caller IPs, "
          f"{len(expected)} expected matches at {a.as_of}", file=sys.stderr)


if __name__ == "__main__":
    main()
