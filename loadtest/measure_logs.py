#!/usr/bin/env python3
"""Per-function figures from the local stack's logs (.local/logs/<handler>.log), stdlib only.

    python3 loadtest/measure_logs.py [--logs .local/logs] [--since-bytes offsets.json]
                                     [--update bench/endpoints.json]

Every API invocation logs one JSON summary line (`"message": "request finished"`, with
`duration_ms` and the invocation's `cold_start` flag; shared/api/src/function.rs). From those:
- requests, cold starts, warm latency mean/p50/p95 (handler time, without the gateway);
- log bytes per request: the file's bytes (everything the function printed: JSON logs, metric
  lines, start-up lines) divided by its requests. This is what CloudWatch Logs would ingest.

--since-bytes: a JSON {binary: byte offset} written by --snapshot before a run, so only the
run's lines count. --update writes duration_ms / log_bytes (and their sources) into the
endpoints file for every endpoint whose "binary" matches.
"""
import argparse
import datetime
import json
import os
import statistics
import sys


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1)))))
    return xs[k]


def measure(path, offset=0):
    warm, cold, requests, size = [], 0, 0, 0
    with open(path, "rb") as f:
        f.seek(offset)
        for raw in f:
            size += len(raw)
            if b'"request finished"' not in raw:
                continue
            try:
                doc = json.loads(raw)
            except ValueError:
                continue
            if doc.get("message") != "request finished":
                continue
            requests += 1
            if doc.get("cold_start"):
                cold += 1
            elif "duration_ms" in doc:
                warm.append(float(doc["duration_ms"]))
    return {
        "requests": requests,
        "cold_starts": cold,
        "warm_mean_ms": round(statistics.fmean(warm), 2) if warm else None,
        "warm_p50_ms": round(pct(warm, 50), 2) if warm else None,
        "warm_p95_ms": round(pct(warm, 95), 2) if warm else None,
        "log_bytes": size,
        "log_bytes_per_request": round(size / requests) if requests else None,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--logs", default=".local/logs")
    ap.add_argument("--snapshot", help="write the current size of every log to this JSON file and exit")
    ap.add_argument("--since-bytes", help="JSON from --snapshot: count only what was written after it")
    ap.add_argument("--update", help="bench/endpoints.json to update")
    ap.add_argument("--label", default="", help="run label recorded in the sources")
    args = ap.parse_args()
    logs = sorted(f for f in os.listdir(args.logs) if f.endswith(".log") and f != "moto.log")
    if args.snapshot:
        json.dump({f[:-4]: os.path.getsize(os.path.join(args.logs, f)) for f in logs}, open(args.snapshot, "w"))
        return
    since = json.load(open(args.since_bytes)) if args.since_bytes else {}
    result = {}
    for f in logs:
        binary = f[:-4]
        m = measure(os.path.join(args.logs, f), since.get(binary, 0))
        if m["requests"]:
            result[binary] = m
    print("| function binary | requests | cold | warm mean ms | warm p50 ms | warm p95 ms | log bytes/request |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for b, m in sorted(result.items(), key=lambda kv: -kv[1]["requests"]):
        print(f"| {b} | {m['requests']} | {m['cold_starts']} | {m['warm_mean_ms']} | {m['warm_p50_ms']} | "
              f"{m['warm_p95_ms']} | {m['log_bytes_per_request']} |")
    if args.update:
        data = json.load(open(args.update))
        today = datetime.date.today().isoformat()
        for name, e in data["endpoints"].items():
            m = result.get(e.get("binary"))
            if not m or m["warm_mean_ms"] is None:
                continue
            e["duration_ms"] = m["warm_mean_ms"]
            e["duration_src"] = (f"measured {today}: mean warm handler latency (duration_ms of the summary lines) over "
                                 f"{m['requests'] - m['cold_starts']} calls on the local stack {args.label}")
            e["log_bytes"] = m["log_bytes_per_request"]
            e["log_src"] = (f"measured {today}: .local/logs/{e['binary']}.log bytes / requests "
                            f"({m['log_bytes']} / {m['requests']}) {args.label}")
        with open(args.update, "w") as fh:
            json.dump(data, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
        print(f"updated {args.update}", file=sys.stderr)


if __name__ == "__main__":
    main()
