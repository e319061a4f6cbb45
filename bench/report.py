#!/usr/bin/env python3
"""Turns the runs of bench/run.sh into results: latest.json, latest.md and SVG charts.

Input: one JSON object per line per measured run (raw.jsonl) and machine.json. Runs of the
same case (scenario, proxy, reuse mode, clients, body size, shards) are summarised as the
median with the min-max spread. Standard library only; the charts are written by hand.
"""

import argparse
import json
import math
import statistics
from pathlib import Path

CASE_KEYS = ("scenario", "proxy", "mode", "clients", "body", "shards", "variant")
FIELDS = (
    "rps", "requests", "errors", "cpu_us_per_req", "proxy_cpu_util", "server_connects",
    "origin_accepted", "origin_open_max", "client_conns", "origin_cpu_s", "load_cpu_s",
    "tw_to_origin", "tw_origin_side", "tw_proxy_clients", "tw_client_side",
    "load_cpu_us_per_req", "load_cpu_util", "nginx_cpu_util", "target_rate",
    "p50", "p90", "p99", "p999", "max", "other_cpu_util", "attempts",
    "client_tls_handshakes", "client_tls_resumed", "origin_tls_handshakes", "origin_tls_resumed",
    "origin_tls_failed", "handshakes_per_s", "cpu_us_per_handshake", "tls_resumed_share",
    "warmup_origin_accepted", "warmup_origin_tls_handshakes", "warmup_origin_tls_resumed",
)
PROXY_ORDER = {"ringway": 0, "ringway-before": 0.5, "haproxy": 1, "nginx": 2, "floor": 3, "floor-uring": 4}
MODE_ORDER = {"never": 0, "safe": 1, "aggressive": 2, "always": 3, "-": 4}
COLORS = {"ringway": "#1f77b4", "ringway-before": "#aec7e8", "haproxy": "#d62728", "nginx": "#2ca02c", "floor": "#bcbd22",
          "floor-uring": "#8c564b",
          "wrk": "#7f7f7f", "ringway-load": "#1f77b4", "ringway-load-spin0": "#9467bd"}
# The floor (bench/run.sh FLOOR=1): a byte forwarder with no HTTP, what TCP alone costs,
# waiting with epoll and with an io_uring ring.
PROXY_LABELS = {"floor": "floor: `ringway-load forward`",
                "floor-uring": "floor: `ringway-load forward --io-uring`"}
TOOL_LABELS = {"wrk": "wrk -t1", "ringway-load": "ringway-load --threads 1",
               "ringway-load-spin0": "ringway-load --threads 1 --spin-rounds 0"}
SHORT_LABELS = {"wrk": "wrk -t1", "ringway-load": "ringway-load",
                "ringway-load-spin0": "ringway-load, spin 0"}
# The tls scenario's variants (bench/run.sh, scenario_tls): label, clients, baseline variant.
TLS_VARIANTS = {
    "plain-ka": ("plain → proxy → plain", "keep-alive", None),
    "client-ka": ("**HTTPS** → proxy → plain", "keep-alive", "plain-ka"),
    "server-ka": ("plain → proxy → **HTTPS**", "keep-alive", "plain-ka"),
    "plain-close": ("plain → proxy → plain", "close", None),
    "client-close": ("**HTTPS**, resumed → proxy → plain", "close", "plain-close"),
    "client-close-full": ("**HTTPS**, full handshake → proxy → plain", "close", "plain-close"),
    "server-close": ("plain → proxy → **HTTPS**", "close", "plain-close"),
    "server-close-never": ("plain → proxy → **HTTPS**, new server conn per request", "close",
                           "plain-close"),
}
TLS_ORDER = {v: i for i, v in enumerate(TLS_VARIANTS)}
# The variants with a TLS handshake per request, where handshakes/s and CPU per handshake mean
# something (elsewhere the only handshakes are the first ones of the 50 connections).
TLS_PER_REQUEST = ("client-close", "client-close-full", "server-close-never")


def load_runs(path):
    runs = []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            run = json.loads(line)
            for k, v in (run.pop("latency_us", None) or {}).items():
                run[k] = v
            runs.append(run)
    for run in runs:
        hs = [run.get(k) for k in ("client_tls_handshakes", "origin_tls_handshakes")]
        res = [run.get(k) for k in ("client_tls_resumed", "origin_tls_resumed")]
        total = sum(h or 0 for h in hs)
        if total > 0 and "tls_resumed_share" not in run:
            run["tls_resumed_share"] = sum(r or 0 for r in res) / total
    return runs


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def summarise(runs):
    cases = {}
    for run in runs:
        cases.setdefault(tuple(run.get(k) for k in CASE_KEYS), []).append(run)
    out = []
    for key, group in cases.items():
        case = dict(zip(CASE_KEYS, key))
        for field in FIELDS:
            s = spread([r.get(field) for r in group])
            if s is not None:
                case[field] = s
        checks = [r["cpu_check"] for r in group if r.get("cpu_check")]
        if checks:
            case["cpu_check"] = checks[0]
        out.append(case)
    out.sort(key=lambda c: (TLS_ORDER.get(c.get("variant"), -1), PROXY_ORDER.get(c["proxy"], 9),
                            c["body"], str(c["shards"]), MODE_ORDER.get(c["mode"], 9)))
    return out


# ---------------------------------------------------------------- text

def num(v, digits=0):
    if v is None:
        return "-"
    if digits == 0:
        return f"{round(v):,}".replace(",", " ")
    return f"{v:.{digits}f}"


def cell(case, field, digits=0, scale=1.0):
    s = case.get(field)
    if s is None:
        return "-"
    med, lo, hi = (s[k] * scale for k in ("median", "min", "max"))
    if s["n"] == 1 or (num(lo, digits) == num(hi, digits)):
        return num(med, digits)
    return f"{num(med, digits)} ({num(lo, digits)}–{num(hi, digits)})"


def disturbed(case, machine):
    """True when a run of the case ran beside other busy processes even after its retries."""
    limit = machine["settings"].get("other_cpu_max")
    s = case.get("other_cpu_util")
    return limit is not None and s is not None and s["max"] > limit


def rate_cell(case, machine):
    return cell(case, "rps") + (" †" if disturbed(case, machine) else "")


def med(case, field):
    s = case.get(field) if case else None
    return None if s is None else s["median"]


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def find(cases, **want):
    for c in cases:
        if all(c.get(k) == v for k, v in want.items()):
            return c
    return None


def body_label(n):
    return f"{n // 1024} KiB" if n and n % 1024 == 0 else f"{n} B"


def markdown(cases, machine, runs):
    s = machine["settings"]
    parts = [
        "# ringway benchmark results",
        "",
        f"{machine['date']}, ringway {machine['ringway_commit']}, {machine['cpus']} x "
        f"{machine['cpu']}, Linux {machine['kernel']} ({machine['os']}), {machine['haproxy']}, "
        f"{machine['nginx']}, wrk {machine['wrk']}. Load average {machine['loadavg_at_start']} "
        f"at start, {machine.get('loadavg_at_end', '?')} at the end; "
        f"{machine.get('wall_seconds', '?')} s in all.",
        "",
        f"Each figure: median of {s['runs']} runs of {s['duration']} (after a {s['warmup']} "
        f"warm-up per proxy start), min–max in brackets. {s['connections']} client connections. "
        f"Proxy on CPU {s['proxy_cpus']}; origin and load generator on CPU "
        f"{s['load_and_origin_cpu']}. CPU µs/req = the proxy's user+system CPU time over the "
        "run / requests completed; CPU % = share of one CPU the proxy used during the run "
        "(over 100 with several shards).",
        "",
    ]
    limit = s.get("other_cpu_max")
    if limit is not None:
        runs_total = [r for r in runs if r.get("other_cpu_util") is not None]
        repeated = sum(1 for r in runs_total if (r.get("attempts") or 1) > 1)
        still = sum(1 for r in runs_total if r["other_cpu_util"] > limit)
        parts += [f"Other processes shared this machine. A run during which they used more than "
                  f"{limit:.0%} of a CPU was repeated (up to {s.get('retries')} times): "
                  f"{repeated} of {len(runs_total)} runs were repeated, {still} stayed disturbed; "
                  "† marks the cases with such a run.", ""]
    by = {}
    for c in cases:
        by.setdefault(c["scenario"], []).append(c)

    if "loadgen" in by:
        parts += ["## Load generator against wrk (nginx `return 200` on the proxy CPU)", ""]
        rows = [[TOOL_LABELS.get(c["proxy"], c["proxy"]), rate_cell(c, machine),
                 cell(c, "load_cpu_us_per_req", 2), cell(c, "load_cpu_util", 0, 100),
                 cell(c, "nginx_cpu_util", 0, 100)] for c in by["loadgen"]]
        parts += [table(["generator", "req/s", "generator CPU µs/req", "generator CPU %",
                         "nginx CPU %"], rows), ""]

    for scenario, title in (("keepalive", "Keep-alive clients"),
                            ("close", "`Connection: close` clients")):
        if scenario not in by:
            continue
        parts += [f"## {title}: reuse modes (the seed-002 table)", ""]
        rows = []
        for c in by[scenario]:
            rows.append([PROXY_LABELS.get(c["proxy"], c["proxy"]), c["mode"], rate_cell(c, machine),
                         cell(c, "requests"),
                         cell(c, "server_connects"), cell(c, "origin_accepted"),
                         cell(c, "origin_open_max"), cell(c, "cpu_us_per_req", 2),
                         cell(c, "proxy_cpu_util", 0, 100), cell(c, "p99"), cell(c, "errors"),
                         cell(c, "tw_to_origin"), cell(c, "tw_proxy_clients")])
        parts += [table(["proxy", "reuse", "req/s", f"requests in {s['duration']}",
                         "new server conns (proxy)", "new server conns (origin)",
                         "max server conns", "CPU µs/req", "CPU %", "p99 µs", "errors",
                         "TIME_WAIT proxy → origin", "TIME_WAIT proxy, client side"], rows), ""]

    if "latency" in by:
        rate = med(by["latency"][0], "target_rate")
        parts += [f"## Latency at a fixed rate of {num(rate)} req/s "
                  f"({s['latency_share_of_haproxy_max']} × HAProxy's keep-alive max)", ""]
        n = (by["latency"][0].get("rps") or {}).get("n")
        if n:
            parts += [f"Medians of {n} runs per proxy; the proxies took turns, one run each, so a "
                      "disturbance of a few seconds lands on one run of one proxy.", ""]
        rows = [[PROXY_LABELS.get(c["proxy"], c["proxy"]), c["mode"], rate_cell(c, machine),
                 cell(c, "p50"), cell(c, "p90"),
                 cell(c, "p99"), cell(c, "p999"), cell(c, "max"), cell(c, "cpu_us_per_req", 2),
                 cell(c, "proxy_cpu_util", 0, 100)] for c in by["latency"]]
        parts += [table(["proxy", "reuse", "req/s", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs",
                         "max µs", "CPU µs/req", "CPU %"], rows), ""]

    if "shards" in by:
        parts += ["## One shard against all shards (keep-alive)", "",
                  f"`1`: one shard/thread/worker pinned to CPU {s['proxy_cpus']}. `all`: one per "
                  f"CPU over all {machine['cpus']} CPUs, so one of them shares CPU "
                  f"{s['load_and_origin_cpu']} with the origin and the load generator.", ""]
        rows = [[c["proxy"], c["shards"], rate_cell(c, machine), cell(c, "cpu_us_per_req", 2),
                 cell(c, "proxy_cpu_util", 0, 100), cell(c, "p99"), cell(c, "origin_open_max"),
                 cell(c, "errors")] for c in by["shards"]]
        parts += [table(["proxy", "shards", "req/s", "CPU µs/req", "CPU %", "p99 µs",
                         "max server conns", "errors"], rows), ""]

    if "bodies" in by:
        parts += ["## Response body sizes (keep-alive)", ""]
        rows = sorted(by["bodies"], key=lambda c: (c["body"], PROXY_ORDER.get(c["proxy"], 9)))
        rows = [[body_label(c["body"]), c["proxy"], rate_cell(c, machine),
                 num(med(c, "rps") * c["body"] * 8 / 1e9, 2) if c["body"] else "-",
                 cell(c, "cpu_us_per_req", 2), cell(c, "proxy_cpu_util", 0, 100),
                 cell(c, "p99"), cell(c, "errors")] for c in rows]
        parts += [table(["body", "proxy", "req/s", "body Gbit/s", "CPU µs/req", "CPU %",
                         "p99 µs", "errors"], rows), ""]

    if "tls" in by:
        parts += tls_markdown(by["tls"], machine, runs)

    parts += targets(by, machine)
    checks = [c for c in cases if c.get("cpu_check")]
    if checks:
        parts += ["## CPU accounting check", "",
                  "Process figure (/proc/PID/stat) against the sum over its threads "
                  "(/proc/PID/task/*/stat), clock ticks, taken once per proxy start:", ""]
        seen = set()
        rows = []
        for c in checks:
            if c["proxy"] in seen:
                continue
            seen.add(c["proxy"])
            k = c["cpu_check"]
            rows.append([c["proxy"], c["scenario"], k["process_ticks"], k["thread_sum_ticks"]])
        parts += [table(["proxy", "taken in", "process", "sum of threads"], rows), ""]
    return "\n".join(parts)


def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def diff_cell(case, base, field, digits=2):
    """The difference of two medians, signed."""
    a, b = med(case, field), med(base, field)
    if a is None or b is None:
        return "-"
    return ("+" if a >= b else "−") + num(abs(a - b), digits)


def handshakes_cell(case, side):
    """Handshakes of one side per run (median), with the resumed ones: '0' or '71 000 (all
    resumed)'."""
    h, r = med(case, f"{side}_tls_handshakes"), med(case, f"{side}_tls_resumed")
    if h is None:
        return "-"
    text = cell(case, f"{side}_tls_handshakes")
    if h and r is not None:
        text += ", all resumed" if r >= h else f", {num(r)} resumed"
    return text


def tls_markdown(cases, machine, runs):
    """The tls scenario: one table for keep-alive clients, one for Connection: close clients."""
    s = machine["settings"]
    conns = s["connections"]
    out = ["## HTTPS (scenario `tls`)", "",
           "http-reuse `always` (nginx: upstream keep-alive) unless the reuse column says "
           "otherwise. One ECDSA P-256 test certificate; TLS 1.3 everywhere; the load generator "
           "verifies nothing and sends no SNI; the proxies verify the origin's chain against the "
           "test CA. Δ CPU = this row's median CPU µs/req minus the plain row's of the same "
           "proxy (the TLS cost per request). Handshakes/s counts both sides (client ↔ proxy "
           "and proxy ↔ origin) during the measured run; CPU µs/handshake = the proxy's CPU "
           "over the run / those handshakes (so it includes the request and the TCP "
           "connection around each handshake). Server TLS handshakes: counted by the origin, "
           "per measured run and during the proxy's start and 1 s warm-up.", ""]
    groups = (("keep-alive", f"{conns} keep-alive clients (a, c)"),
              ("close", f"{conns} `Connection: close` clients: one client connection per "
                        "request (b, d)"))
    for clients, title in groups:
        rows = [c for c in cases if TLS_VARIANTS.get(c.get("variant"), ("", ""))[1] == clients]
        if not rows:
            continue
        rows.sort(key=lambda c: (TLS_ORDER.get(c.get("variant"), 99),
                                 PROXY_ORDER.get(c["proxy"], 9)))
        out += [f"### {title}", ""]
        lines = []
        for c in rows:
            label, _, base_name = TLS_VARIANTS[c["variant"]]
            base = find(cases, variant=base_name, proxy=c["proxy"]) if base_name else None
            hs = c.get("handshakes_per_s") if c["variant"] in TLS_PER_REQUEST else None
            lines.append([
                c["proxy"], c["mode"], label, rate_cell(c, machine),
                cell(c, "handshakes_per_s") if hs and hs["median"] >= 1 else "-",
                cell(c, "cpu_us_per_req", 2), diff_cell(c, base, "cpu_us_per_req") if base else "",
                cell(c, "cpu_us_per_handshake", 2) if hs and hs["median"] >= 1 else "-",
                cell(c, "proxy_cpu_util", 0, 100),
                handshakes_cell(c, "client"),
                handshakes_cell(c, "origin"),
                cell(c, "warmup_origin_tls_handshakes") if c.get("warmup_origin_tls_handshakes")
                else "-",
                cell(c, "origin_accepted"), cell(c, "origin_open_max"), cell(c, "errors")])
        out += [table(["proxy", "reuse", "client → proxy → origin", "req/s", "handshakes/s",
                       "CPU µs/req", "Δ CPU µs/req", "CPU µs/handshake", "CPU %",
                       "client TLS handshakes", "server TLS handshakes",
                       "server TLS handshakes in warm-up", "new server conns",
                       "max server conns", "errors"], lines), ""]
    sc = [c for c in cases if c.get("variant") == "server-close"]
    if sc:
        out += [f"Server TLS connections with {conns} `Connection: close` clients and `always` "
                "(the seed-001 effect: the server side needs no more connections than there "
                "are concurrent clients), counted by the origin from the proxy's start:", ""]
        lines = []
        for c in sorted(sc, key=lambda c: PROXY_ORDER.get(c["proxy"], 9)):
            mine = [r for r in runs if r.get("scenario") == "tls"
                    and r.get("variant") == "server-close" and r.get("proxy") == c["proxy"]]
            warm = (c.get("warmup_origin_tls_handshakes") or {}).get("max")
            in_runs = [r.get("origin_tls_handshakes") for r in mine]
            total = None if warm is None or None in in_runs else warm + sum(in_runs)
            peak = (c.get("origin_open_max") or {}).get("max")
            lines.append([c["proxy"], num(peak), yes(peak is not None and peak <= conns),
                          num(warm), " + ".join(num(v) for v in in_runs), num(total),
                          yes(total is not None and total <= conns)])
        out += [table(["proxy", "most open at once (worst run)", f"≤ {conns}",
                       "opened: start + 1 s warm-up", "opened: measured runs",
                       "opened in all", f"≤ {conns}"], lines), ""]
    return out


def issue20_targets(by):
    """Issue 20's targets: close clients against HAProxy, 64 KiB bodies against nginx,
    keep-alive against the forwarding floor (flat out, and at the latency scenario's rate)."""
    rows = []
    close = by.get("close", [])
    for mode in ("never", "safe", "aggressive", "always"):
        r, h = find(close, proxy="ringway", mode=mode), find(close, proxy="haproxy", mode=mode)
        if not (r and h):
            continue
        cpu = ratio(med(r, "cpu_us_per_req"), med(h, "cpu_us_per_req"))
        rows.append([f"close clients, {mode}: CPU/req ringway ÷ HAProxy ≤ 0.9",
                     num(cpu, 2), yes(cpu is not None and cpu <= 0.9)])
        if mode != "always":
            rps = ratio(med(r, "rps"), med(h, "rps"))
            rows.append([f"close clients, {mode}: req/s ringway ÷ HAProxy ≥ 1",
                         num(rps, 2), yes(rps is not None and rps >= 1.0)])
    bodies = by.get("bodies", [])
    r, n = find(bodies, proxy="ringway", body=65536), find(bodies, proxy="nginx", body=65536)
    if r and n:
        v = ratio(med(r, "cpu_us_per_req"), med(n, "cpu_us_per_req"))
        rows.append(["64 KiB bodies: CPU/req ringway ÷ nginx ≤ 1", num(v, 2),
                     yes(v is not None and v <= 1.0)])
    for scenario, label in (("keepalive", "flat out"), ("latency", "at the fixed rate")):
        cases = by.get(scenario, [])
        floor = find(cases, proxy="floor")
        best = [med(c, "cpu_us_per_req") for c in cases if c["proxy"] == "ringway"]
        best = [b for b in best if b is not None]
        if floor and best and med(floor, "cpu_us_per_req"):
            v = ratio(min(best), med(floor, "cpu_us_per_req"))
            rows.append([f"keep-alive, {label}: CPU/req ringway (cheapest mode) ÷ floor ≤ 1.05",
                         num(v, 2), yes(v is not None and v <= 1.05)])
    return rows


def targets(by, machine):
    """The issue's targets, computed from the medians (reported, never asserted)."""
    out = ["## Targets", ""]
    rows = []
    reuse = machine["settings"]["reuse_for_latency_shards_bodies"]
    conns = machine["settings"]["connections"]
    ka = by.get("keepalive", [])
    for mode in ("never", "safe", "aggressive", "always"):
        r, h = find(ka, proxy="ringway", mode=mode), find(ka, proxy="haproxy", mode=mode)
        if not (r and h):
            continue
        cpu = ratio(med(r, "cpu_us_per_req"), med(h, "cpu_us_per_req"))
        rps = ratio(med(r, "rps"), med(h, "rps"))
        rows.append([f"keep-alive, {mode}: CPU/req ringway ÷ HAProxy ≤ 0.75",
                     num(cpu, 2), yes(cpu is not None and cpu <= 0.75)])
        rows.append([f"keep-alive, {mode}: req/s ringway ÷ HAProxy ≥ 1",
                     num(rps, 2), yes(rps is not None and rps >= 1.0)])
    haproxy_best = [med(h, "cpu_us_per_req") for h in ka if h["proxy"] == "haproxy"]
    floors = {}
    for proxy, waits in (("floor", "epoll"), ("floor-uring", "io_uring")):
        floor = find(ka, proxy=proxy)
        if floor and haproxy_best and med(floor, "cpu_us_per_req") is not None:
            floors[waits] = med(floor, "cpu_us_per_req")
            v = ratio(floors[waits], min(haproxy_best))
            rows.append([f"for scale: CPU/req of the floor (TCP forwarding, no HTTP, {waits}) "
                         "÷ HAProxy's cheapest mode", num(v, 2), "-"])
    if floors:
        # What each proxy adds to the cheapest floor: its own work, the part a proxy can cut.
        base = min(floors.values())
        for mode in ("never", "safe", "aggressive", "always"):
            r, h = find(ka, proxy="ringway", mode=mode), find(ka, proxy="haproxy", mode=mode)
            rc, hc = (med(r, "cpu_us_per_req"), med(h, "cpu_us_per_req")) if r and h else (None, None)
            if rc is not None and hc is not None:
                own_r, own_h = rc - base, hc - base
                rows.append([f"for scale, {mode}: CPU/req above the floor, ringway ÷ HAProxy",
                             f"{num(own_r, 1)} ÷ {num(own_h, 1)} µs = "
                             f"{num(ratio(own_r, own_h), 2)}", "-"])
    close = find(by.get("close", []), proxy="ringway", mode="always")
    if close:
        peak = close.get("origin_open_max", {}).get("max")
        new = close.get("server_connects", {}).get("max")
        rows.append([f"close clients, always: ringway's server connections ≤ {conns} clients",
                     f"peak {num(peak)} open, {num(new)} opened (worst run)",
                     yes(peak is not None and peak <= conns)])
    lat = by.get("latency", [])
    r, h = find(lat, proxy="ringway"), find(lat, proxy="haproxy")
    if r and h:
        rows.append([f"p99 at the fixed rate ({reuse}): ringway ≤ HAProxy",
                     f"{num(med(r, 'p99'))} µs vs {num(med(h, 'p99'))} µs",
                     yes(med(r, "p99") <= med(h, "p99"))])
        # The same rate for every row, so CPU per request compares without one proxy being
        # busier (fewer sleeps per request) than another.
        hc = med(h, "cpu_us_per_req")
        rows.append(["for scale, at the fixed rate: CPU/req ringway ÷ HAProxy",
                     num(ratio(med(r, "cpu_us_per_req"), hc), 2), "-"])
        for proxy, waits in (("floor", "epoll"), ("floor-uring", "io_uring")):
            floor = find(lat, proxy=proxy)
            if floor:
                rows.append([f"for scale, at the fixed rate: CPU/req of the floor ({waits}) "
                             "÷ HAProxy", num(ratio(med(floor, "cpu_us_per_req"), hc), 2), "-"])
    rows += issue20_targets(by)
    lg = by.get("loadgen", [])
    w = find(lg, proxy="wrk")
    for tool in ("ringway-load", "ringway-load-spin0"):
        t = find(lg, proxy=tool)
        if w and t:
            v = ratio(med(t, "rps"), med(w, "rps"))
            rows.append([f"{TOOL_LABELS[tool]} req/s ÷ wrk -t1 ≥ 1", num(v, 2),
                         yes(v is not None and v >= 1.0)])
    if not rows:
        return []
    return out + [table(["target", "measured", "met"], rows), ""]


def yes(ok):
    return "yes" if ok else "**no**"


# ---------------------------------------------------------------- charts

def esc(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def nice_max(v):
    if v <= 0:
        return 1.0
    mag = 10 ** len(str(int(v))) / 10
    for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if step * mag >= v:
            return step * mag
    return v


def bar_chart(path, title, unit, panels, log=False):
    """Horizontal bars with min-max whiskers. panels: [(title, [(label, color, spread)])].
    With `log`, the axis is logarithmic in decades (for latencies that span orders)."""
    label_w, bar_w, row_h = 250, 520, 20
    svg = [f'<text x="10" y="22" font-size="15" font-weight="bold">{esc(title)}</text>']
    y = 40
    for ptitle, rows in panels:
        svg.append(f'<text x="10" y="{y + 16}" font-weight="bold">{esc(ptitle)}</text>')
        y += 26
        top = nice_max(max((s["max"] for _, _, s in rows if s), default=1))
        x0 = label_w
        if log:
            lo_dec = math.floor(math.log10(max(min((s["min"] for _, _, s in rows if s),
                                                   default=1), 1)))
            hi_dec = max(math.ceil(math.log10(max(top, 1))), lo_dec + 1)

            def scale(v, lo_dec=lo_dec, hi_dec=hi_dec):
                v = max(v, 10 ** lo_dec)
                return bar_w * (math.log10(v) - lo_dec) / (hi_dec - lo_dec)
            ticks = [10 ** d for d in range(lo_dec, hi_dec + 1)]
        else:
            def scale(v, top=top):
                return bar_w * v / top
            ticks = [top * i / 4 for i in range(5)]
        for tick in ticks:
            gx = x0 + scale(tick)
            svg.append(f'<line x1="{gx:.1f}" y1="{y}" x2="{gx:.1f}" '
                       f'y2="{y + row_h * len(rows)}" stroke="#ddd"/>')
            svg.append(f'<text x="{gx:.1f}" y="{y + row_h * len(rows) + 14}" fill="#555" '
                       f'text-anchor="middle">{fmt_tick(tick)}</text>')
        for label, color, s in rows:
            svg.append(f'<text x="{x0 - 6}" y="{y + 14}" text-anchor="end">{esc(label)}</text>')
            if s:
                w = scale(s["median"])
                svg.append(f'<rect x="{x0}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
                           f'fill="{color}"/>')
                lo, hi = (x0 + scale(s[k]) for k in ("min", "max"))
                mid = y + row_h / 2
                svg.append(f'<line x1="{lo:.1f}" y1="{mid}" x2="{hi:.1f}" y2="{mid}" '
                           f'stroke="black"/>')
                for xx in (lo, hi):
                    svg.append(f'<line x1="{xx:.1f}" y1="{mid - 4}" x2="{xx:.1f}" '
                               f'y2="{mid + 4}" stroke="black"/>')
                svg.append(f'<text x="{max(hi, x0 + w) + 6:.1f}" y="{y + 14}">'
                           f'{esc(fmt_value(s["median"]))}</text>')
            y += row_h
        y += 34
    svg.append(f'<text x="10" y="{y}" fill="#555">{esc(unit)}; bar = median, '
               'whisker = min–max over the runs</text>')
    head = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 110}" '
            f'height="{y + 12}" font-family="sans-serif" font-size="12">',
            '<rect width="100%" height="100%" fill="white"/>']
    Path(path).write_text("\n".join(head + svg + ["</svg>"]) + "\n")


def fmt_tick(v):
    if v >= 1_000_000:
        return f"{v / 1_000_000:g}M"
    if v >= 1000:
        return f"{v / 1000:g}k"
    return f"{v:g}"


def fmt_value(v):
    if v >= 1000:
        return f"{v:,.0f}".replace(",", " ")
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def proxy_panels(by, field):
    panels = []
    for scenario, title in (("keepalive", "keep-alive clients"),
                            ("close", "Connection: close clients")):
        if scenario in by:
            panels.append((title, [(f"{c['proxy']} {c['mode'] if c['mode'] != '-' else ''}",
                                    COLORS.get(c["proxy"], "#888"), c.get(field))
                                   for c in by[scenario]]))
    if "shards" in by:
        panels.append(("keep-alive, one shard vs all", [
            (f"{c['proxy']} shards={c['shards']}", COLORS.get(c["proxy"], "#888"), c.get(field))
            for c in by["shards"]]))
    if "bodies" in by:
        rows = sorted(by["bodies"], key=lambda c: (c["body"], PROXY_ORDER.get(c["proxy"], 9)))
        panels.append(("keep-alive, response body size", [
            (f"{c['proxy']} {body_label(c['body'])}", COLORS.get(c["proxy"], "#888"),
             c.get(field)) for c in rows]))
    return panels


def tls_chart(path, cases):
    def rows(variants, field, label=lambda c: TLS_SHORT[c["variant"]]):
        picked = [c for c in cases if c.get("variant") in variants]
        picked.sort(key=lambda c: (PROXY_ORDER.get(c["proxy"], 9), TLS_ORDER[c["variant"]]))
        return [(f"{c['proxy']} {label(c)}", COLORS.get(c["proxy"], "#888"), c.get(field))
                for c in picked]
    ka = ("plain-ka", "client-ka", "server-ka")
    close = ("plain-close", "client-close", "client-close-full", "server-close",
             "server-close-never")
    hs = ("client-close", "client-close-full", "server-close-never")
    panels = [(title, r) for title, r in (
        ("keep-alive clients: requests/s", rows(ka, "rps")),
        ("keep-alive clients: proxy CPU µs per request", rows(ka, "cpu_us_per_req")),
        ("close clients: handshakes/s (client and server side)", rows(hs, "handshakes_per_s")),
        ("close clients: proxy CPU µs per request", rows(close, "cpu_us_per_req")),
    ) if r]
    if panels:
        bar_chart(path, "HTTPS: ringway, HAProxy and nginx on one CPU",
                  "requests/s, handshakes/s or µs of proxy CPU (user+system)", panels)
    return bool(panels)


TLS_SHORT = {"plain-ka": "plain", "client-ka": "HTTPS client side",
             "server-ka": "HTTPS server side", "plain-close": "plain",
             "client-close": "HTTPS client, resumed", "client-close-full": "HTTPS client, full",
             "server-close": "HTTPS server, always", "server-close-never": "HTTPS server, never"}


def charts(cases, out, prefix=""):
    by = {}
    for c in cases:
        by.setdefault(c["scenario"], []).append(c)
    written = []
    panels = proxy_panels(by, "rps")
    if panels:
        bar_chart(out / f"{prefix}rps.svg", "Requests per second", "requests/s", panels)
        bar_chart(out / f"{prefix}cpu.svg", "Proxy CPU time per request",
                  "µs of CPU (user+system) per "
                  "request", proxy_panels(by, "cpu_us_per_req"))
        written += [f"{prefix}rps.svg", f"{prefix}cpu.svg"]
    if "latency" in by:
        rows = []
        for c in by["latency"]:
            for field, label in (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9")):
                rows.append((f"{c['proxy']} {label}", COLORS.get(c["proxy"], "#888"),
                             c.get(field)))
        rate = med(by["latency"][0], "target_rate")
        bar_chart(out / f"{prefix}latency.svg", f"Latency at a fixed {rate:,.0f} req/s (open loop)",
                  "µs, logarithmic axis", [("percentiles", rows)], log=True)
        written.append(f"{prefix}latency.svg")
    if "loadgen" in by:
        bar_chart(out / f"{prefix}loadgen.svg", "Load generators on one core against nginx",
                  "requests/s and µs of generator CPU per request",
                  [("requests/s", [(SHORT_LABELS.get(c["proxy"], c["proxy"]),
                                    COLORS.get(c["proxy"], "#888"), c.get("rps"))
                                   for c in by["loadgen"]]),
                   ("generator CPU µs per request", [
                       (SHORT_LABELS.get(c["proxy"], c["proxy"]), COLORS.get(c["proxy"], "#888"),
                        c.get("load_cpu_us_per_req")) for c in by["loadgen"]])])
        written.append(f"{prefix}loadgen.svg")
    if "tls" in by and tls_chart(out / f"{prefix}tls.svg", by["tls"]):
        written.append(f"{prefix}tls.svg")
    return written


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--raw", help="runs, one JSON object per line (from bench/run.sh)")
    ap.add_argument("--machine", help="machine.json (from bench/run.sh)")
    ap.add_argument("--from", dest="source", help="redraw from an earlier latest.json instead")
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", default="latest",
                    help="base name of the .md and .json files (default latest)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.source:
        earlier = json.loads(Path(args.source).read_text())
        runs, machine = earlier["runs"], earlier["machine"]
    elif args.raw and args.machine:
        runs = load_runs(args.raw)
        machine = json.loads(Path(args.machine).read_text())
    else:
        ap.error("give --raw and --machine, or --from")
    cases = summarise(runs)
    md = markdown(cases, machine, runs)
    # Charts of a report other than latest carry its name, so they never replace latest's.
    written = charts(cases, out, "" if args.name == "latest" else f"{args.name}-")
    if written:
        md += "\n## Charts\n\n" + "\n".join(f"![{w}]({w})" for w in written) + "\n"
    (out / f"{args.name}.md").write_text(md)
    (out / f"{args.name}.json").write_text(json.dumps(
        {"machine": machine, "cases": cases, "runs": runs}, indent=1) + "\n")
    print(md)


if __name__ == "__main__":
    main()
