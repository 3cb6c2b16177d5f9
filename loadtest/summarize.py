#!/usr/bin/env python3
"""Summarise an artillery JSON report (artillery run --output X.json) as a Markdown table.

    python3 loadtest/summarize.py loadtest/out/mixed.json

Per endpoint (metrics-by-endpoint plugin, request names = "METHOD /route"): requests,
p50/p95/p99 (ms), 2xx, 429 and other non-2xx, and the owner's target for that kind of call.
Then the whole run: requests/s, latency, error rate (non-2xx other than 429, plus socket
errors and timeouts) and the 429 rate apart.
"""
import json
import re
import sys

# Owner's targets (checklist "PERFORMANS HEDEFLERİ"), by kind of call.
TARGETS = [
    (re.compile(r"/api/auth/"), "auth < 200 ms", 200),
    (re.compile(r"/api/dashboard"), "dashboard < 300 ms", 300),
    (re.compile(r"POST /api/roadmaps$"), "roadmap generation < 5 s", 5000),
    (re.compile(r"/api/community/"), "posts < 500 ms", 500),
]


def target_for(name):
    for rx, label, ms in TARGETS:
        if rx.search(name):
            return label, ms
    return "", None


def main(path, label=None):
    rep = json.load(open(path))
    agg = rep["aggregate"]
    counters = agg.get("counters", {})
    summaries = agg.get("summaries", {})
    rows = []
    prefix = "plugins.metrics-by-endpoint.response_time."
    for key, s in sorted(summaries.items()):
        if not key.startswith(prefix):
            continue
        name = key[len(prefix):]
        codes = {}
        cprefix = f"plugins.metrics-by-endpoint.{name}.codes."
        for ck, v in counters.items():
            if ck.startswith(cprefix):
                codes[int(ck[len(cprefix):])] = v
        n = sum(codes.values()) or s.get("count", 0)
        ok = sum(v for c, v in codes.items() if 200 <= c < 300)
        r429 = codes.get(429, 0)
        other = n - ok - r429
        tlabel, tms = target_for(name)
        verdict = ""
        if tms is not None:
            verdict = ("met" if s["p95"] <= tms else "MISSED") + f" ({tlabel}, p95)"
        rows.append((name, n, s["p50"], s["p95"], s["p99"], ok, r429, other, codes, verdict))

    total_req = counters.get("http.requests", 0)
    resp = counters.get("http.responses", 0)
    codes_all = {int(k.split(".")[-1]): v for k, v in counters.items() if re.fullmatch(r"http\.codes\.\d+", k)}
    n429 = codes_all.get(429, 0)
    n2xx = sum(v for c, v in codes_all.items() if 200 <= c < 300)
    errs = {k[len("errors."):]: v for k, v in counters.items() if k.startswith("errors.")}
    n_err = resp - n2xx - n429 + sum(errs.values())
    first = rep["aggregate"].get("firstCounterAt") or rep["aggregate"].get("firstMetricAt")
    last = rep["aggregate"].get("lastCounterAt") or rep["aggregate"].get("lastMetricAt")
    secs = (last - first) / 1000 if first and last and last > first else None
    rt = summaries.get("http.response_time", {})

    out = []
    out.append(f"**{label or path}**\n")
    out.append("| endpoint | requests | p50 ms | p95 ms | p99 ms | 2xx | 429 | other | owner's target |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, n, p50, p95, p99, ok, r429, other, codes, verdict in rows:
        other_s = str(other)
        if other:
            other_s += " (" + ", ".join(f"{c}: {v}" for c, v in sorted(codes.items()) if not (200 <= c < 300 or c == 429)) + ")"
        out.append(f"| {name} | {n} | {p50} | {p95} | {p99} | {ok} | {r429} | {other_s} | {verdict} |")
    out.append("")
    rate = f"{total_req / secs:.1f} requests/s over {secs:.0f} s" if secs else ""
    out.append(f"- whole run: {total_req} requests ({rate}); latency p50 {rt.get('p50')} ms, "
               f"p95 {rt.get('p95')} ms, p99 {rt.get('p99')} ms, max {rt.get('max')} ms")
    if total_req:
        out.append(f"- errors (non-2xx other than 429, socket errors, timeouts): {n_err} = "
                   f"{100 * n_err / total_req:.2f} % (owner's target < 0.5 %); 429: {n429} = {100 * n429 / total_req:.2f} %")
    if errs:
        out.append("- client-side errors: " + ", ".join(f"{k}: {v}" for k, v in sorted(errs.items())))
    out.append(f"- virtual users: created {counters.get('vusers.created', 0)}, completed "
               f"{counters.get('vusers.completed', 0)}, failed {counters.get('vusers.failed', 0)}")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
