#!/usr/bin/env python3
"""One request at a time through every endpoint (stdlib): warm, unloaded figures per endpoint.

    python3 loadtest/warm_pass.py --target http://127.0.0.1:3100 --pool loadtest/out/pool.csv \
        [--rounds 15] [--update bench/endpoints.json]

The load runs measure durations with the emulator saturated (every call waits for moto's one
DynamoDB lock), which is not what a warm Lambda sees in AWS. This pass sends each endpoint
--rounds requests sequentially, with nothing else running, after one warm-up call (the cold
start), using a different pool account per write so that no per-user limit answers 429.
It prints the client-side time and response body bytes per endpoint and, with --update,
writes response_bytes (and its source) into bench/endpoints.json. Run
`loadtest/measure_logs.py --since-bytes` around it for the functions' own durations.
"""
import argparse
import csv
import datetime
import json
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from setup_pool import Client  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", default=os.environ.get("BASE_URL", "http://127.0.0.1:3100"))
    ap.add_argument("--pool", default="loadtest/out/pool.csv")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--update")
    args = ap.parse_args()
    rows = list(csv.DictReader(open(args.pool, newline="")))
    posts = [r["post_id"] for r in rows if r["post_id"]]
    host_local = "127.0.0.1" in args.target or "localhost" in args.target
    results = {}

    def client(i):
        ip = f"127.{200 + i % 50}.{random.randrange(256)}.{1 + i % 250}" if host_local else None
        return Client(args.target, ip)

    def run(name, fn):
        times, sizes, codes = [], [], {}
        fn(0)  # warm-up / cold start, not counted
        for i in range(1, args.rounds + 1):
            t0 = time.perf_counter()
            status, size = fn(i)
            times.append((time.perf_counter() - t0) * 1000)
            sizes.append(size)
            codes[status] = codes.get(status, 0) + 1
        results[name] = {"p50_ms": round(statistics.median(times), 1), "mean_ms": round(statistics.fmean(times), 1),
                         "bytes": round(statistics.fmean(sizes)), "codes": codes}
        print(f"{name:45s} p50 {results[name]['p50_ms']:7.1f} ms  mean {results[name]['mean_ms']:7.1f} ms  "
              f"{results[name]['bytes']:6d} B  {codes}", flush=True)

    def req(method, path, body=None, row=None, c=None):
        c = c or Client(args.target)
        st, payload, _ = c.call(method, path, body, row["access_token"] if row else None)
        return st, len(json.dumps(payload)) if payload is not None else 0

    def row(i):
        return rows[(i * 7 + 3) % len(rows)]

    def post(i):
        return posts[i % len(posts)]

    run("GET /api/community/posts", lambda i: req("GET", "/api/community/posts?sort=new&limit=20", row=row(i)))
    run("GET /api/community/posts/{id}", lambda i: req("GET", f"/api/community/posts/{post(i)}", row=row(i)))
    run("GET /api/community/posts/{id}/comments", lambda i: req("GET", f"/api/community/posts/{post(i)}/comments?limit=20"))
    run("GET /api/community/stats", lambda i: req("GET", "/api/community/stats"))
    run("GET /api/dashboard", lambda i: req("GET", "/api/dashboard", row=row(i)))
    run("GET /api/users/me", lambda i: req("GET", "/api/users/me", row=row(i)))
    run("PATCH /api/users/me", lambda i: req("PATCH", "/api/users/me", {"reminder_hour": 18}, row=row(i)))
    run("GET /api/roadmaps/catalog", lambda i: req("GET", "/api/roadmaps/catalog"))
    run("GET /api/roadmaps", lambda i: req("GET", "/api/roadmaps", row=row(i)))
    run("GET /api/roadmaps/{id}", lambda i: req("GET", f"/api/roadmaps/{row(i)['roadmap_id']}", row=row(i)))
    run("PATCH /api/roadmaps/{id}/steps/{step_id}",
        lambda i: req("PATCH", f"/api/roadmaps/{row(i)['roadmap_id']}/steps/{row(i)['step_id']}", {"done": i % 2 == 0}, row=row(i)))
    run("GET /api/notifications", lambda i: req("GET", "/api/notifications?limit=20", row=row(i)))
    run("POST /api/notifications/read-all", lambda i: req("POST", "/api/notifications/read-all", row=row(i)))
    run("POST /api/community/posts/{id}/like", lambda i: req("POST", f"/api/community/posts/{post(i)}/like", row=row(i + 100)))
    run("DELETE /api/community/posts/{id}/like", lambda i: req("DELETE", f"/api/community/posts/{post(i)}/like", row=row(i + 100)))
    run("POST /api/community/posts", lambda i: req("POST", "/api/community/posts",
                                                   {"title": f"warm pass {i}", "content": "warm pass content " * 30}, row=row(i + 200)))
    run("POST /api/community/posts/{id}/comments", lambda i: req("POST", f"/api/community/posts/{post(i)}/comments",
                                                                 {"content": "a warm pass comment"}, row=row(i + 300)))

    def login(i):
        r = row(i + 400)
        return req("POST", "/api/auth/login", {"email": r["email"], "password": r["password"]}, c=client(i))
    run("POST /api/auth/login", login)

    tag = f"warm{int(time.time())}"

    def register(i):
        return req("POST", "/api/auth/register", {"email": f"{tag}-{i}@loadtest.example", "password": "load-test-password-1",
                                                  "display_name": "Warm"}, c=client(1000 + i))
    run("POST /api/auth/register", register)

    # refresh needs a fresh login each round; time only the refresh call
    times, sizes, codes = [], [], {}
    for i in range(args.rounds + 1):
        r = row(i + 500)
        st, auth, _ = client(2000 + i).call("POST", "/api/auth/login", {"email": r["email"], "password": r["password"]})
        t0 = time.perf_counter()
        st, size = req("POST", "/api/auth/refresh", {"refresh_token": auth["refresh_token"]})
        if i:
            times.append((time.perf_counter() - t0) * 1000)
            sizes.append(size)
            codes[st] = codes.get(st, 0) + 1
    results["POST /api/auth/refresh"] = {"p50_ms": round(statistics.median(times), 1), "mean_ms": round(statistics.fmean(times), 1),
                                         "bytes": round(statistics.fmean(sizes)), "codes": codes}
    print(f"{'POST /api/auth/refresh':45s} p50 {results['POST /api/auth/refresh']['p50_ms']:7.1f} ms  {codes}")
    run("GET /health/ready", lambda i: req("GET", "/health/ready"))
    run("GET /openapi.json", lambda i: req("GET", "/openapi.json"))

    if args.update:
        data = json.load(open(args.update))
        today = datetime.date.today().isoformat()
        for name, r in results.items():
            e = data["endpoints"].get(name)
            if e is None:
                continue
            e["response_bytes"] = r["bytes"]
            e["response_src"] = f"measured {today}: mean JSON body bytes over {args.rounds} calls (loadtest/warm_pass.py)"
        with open(args.update, "w") as fh:
            json.dump(data, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
        print(f"updated {args.update}", file=sys.stderr)
    json.dump(results, open(os.path.join(os.path.dirname(args.pool), "warm_pass.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
