#!/usr/bin/env python3
"""Hot-key report: read and write units per DynamoDB partition during a load run, projected.

    python3 loadtest/hotkeys.py --capacity http://127.0.0.1:5005/_rota/capacity \\
        --seconds 300 --requests 24000 --users 500 [--top 15] [--json out.json]

The emulator (local/moto_patches.py) charges every read and write, with DynamoDB's rules, to
the partition it lands on: the table's partition key and each index's partition key. This
prints the hottest partitions with their share of all units, their rate during the run, and
two projections against DynamoDB's per-partition limits (1000 WCU/s, 3000 RCU/s):

- at the owner's peak, 1000 requests/s (5000 users at 0.2 requests/s each);
- at 10 times the users (50 000 users, 10 000 requests/s).

A partition shared by all users (a feed, a counter shard, a popular post) carries traffic in
proportion to all requests: it is scaled by (target requests/s) / (run requests/s). A
partition of one user (`USER#`, `SESSION#`, `EMAIL#`, `IDEMP#`) carries that user's own calls:
it is scaled by (target requests/s per user) / (run requests/s per user), whatever the number of
users. The `active-users` index is written at most once per user per hour (a conditional write):
it is scaled by users per hour — (target users / 3600 s) / (run users / run seconds), the run's
users each writing once — not by requests. Anything above half a limit at 10× is flagged: it must
be redesigned.
"""

import argparse
import json
import sys
import urllib.request

WCU_LIMIT, RCU_LIMIT = 1000.0, 3000.0
OWNER_RPS, OWNER_USERS = 1000.0, 5000.0
PER_USER = ("USER#", "SESSION#", "EMAIL#", "IDEMP#")
PER_USER_HOUR_INDEXES = ("active-users",)


def load(source):
    if source.startswith("http"):
        with urllib.request.urlopen(source) as r:
            return json.load(r)["partitions"]
    return json.load(open(source))["partitions"]


def kind(p):
    label = p["partition"]
    if p["index"]:
        return f"{p['index']} {label.split('#')[0]}#…" if "#" in label else f"{p['index']} {label}"
    return label.split("#")[0] + "#…" if "#" in label else label


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--capacity", required=True, help="URL of /_rota/capacity or a saved JSON file")
    ap.add_argument("--seconds", type=float, required=True, help="length of the measured run")
    ap.add_argument("--requests", type=float, required=True, help="API requests served in the run")
    ap.add_argument("--users", type=float, required=True, help="users active in the run")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--json", help="write the projections here")
    args = ap.parse_args()

    parts = load(args.capacity)
    run_rps = args.requests / args.seconds
    run_per_user = run_rps / args.users
    total_r = sum(p["rcu"] for p in parts) or 1.0
    total_w = sum(p["wcu"] for p in parts) or 1.0

    rows = []
    for p in parts:
        per_user = not p["index"] and p["partition"].startswith(PER_USER)
        per_hour = p["index"] in PER_USER_HOUR_INDEXES
        r, w = p["rcu"] / args.seconds, p["wcu"] / args.seconds
        if per_user:
            scale1 = scale10 = (OWNER_RPS / OWNER_USERS) / run_per_user
        elif per_hour:
            run_users_per_s = args.users / min(args.seconds, 3600.0)
            scale1 = (OWNER_USERS / 3600.0) / run_users_per_s
            scale10 = 10 * scale1
        else:
            scale1 = OWNER_RPS / run_rps
            scale10 = 10 * OWNER_RPS / run_rps
        row = {
            "table": p["table"], "index": p["index"], "partition": p["partition"],
            "kind": "per user" if per_user else ("per user-hour" if per_hour else "shared"),
            "rcu_share": p["rcu"] / total_r, "wcu_share": p["wcu"] / total_w,
            "rcu_s": r, "wcu_s": w,
            "rcu_s_1x": r * scale1, "wcu_s_1x": w * scale1,
            "rcu_s_10x": r * scale10, "wcu_s_10x": w * scale10,
        }
        row["load_1x"] = max(row["rcu_s_1x"] / RCU_LIMIT, row["wcu_s_1x"] / WCU_LIMIT)
        row["load_10x"] = max(row["rcu_s_10x"] / RCU_LIMIT, row["wcu_s_10x"] / WCU_LIMIT)
        rows.append(row)
    rows.sort(key=lambda r: r["load_10x"], reverse=True)

    print(f"Run: {args.requests:.0f} requests in {args.seconds:.0f} s ({run_rps:.1f}/s) by "
          f"{args.users:.0f} users; {len(parts)} partitions, {total_r:.0f} RCU and {total_w:.0f} WCU in all.")
    print(f"Projection: × {OWNER_RPS / run_rps:.1f} to the owner's 1000 requests/s, "
          f"× {10 * OWNER_RPS / run_rps:.1f} at 10× the users (per-user partitions: "
          f"× {(OWNER_RPS / OWNER_USERS) / run_per_user:.2f}; active-users: × "
          f"{(OWNER_USERS / 3600.0) / (args.users / min(args.seconds, 3600.0)):.2f} and × "
          f"{10 * (OWNER_USERS / 3600.0) / (args.users / min(args.seconds, 3600.0)):.2f}).\n")
    print("| partition | kind | share R / W | run RCU/s / WCU/s | 1000 req/s RCU/s / WCU/s | % of limit | at 10× users RCU/s / WCU/s | % of limit |")
    print("|---|---|---|---|---|---:|---|---:|")
    for r in rows[: args.top]:
        name = f"{r['index']} `{r['partition']}`" if r["index"] else f"`{r['partition']}`"
        flag = " **over half**" if r["load_10x"] > 0.5 else ""
        print(f"| {name} | {r['kind']} | {100 * r['rcu_share']:.1f} % / {100 * r['wcu_share']:.1f} % "
              f"| {r['rcu_s']:.1f} / {r['wcu_s']:.1f} | {r['rcu_s_1x']:.0f} / {r['wcu_s_1x']:.0f} "
              f"| {100 * r['load_1x']:.1f} % | {r['rcu_s_10x']:.0f} / {r['wcu_s_10x']:.0f} "
              f"| {100 * r['load_10x']:.1f} %{flag} |")
    # By kind of key: where the traffic goes.
    kinds = {}
    for p in parts:
        k = kind(p)
        r, w = kinds.get(k, (0.0, 0.0))
        kinds[k] = (r + p["rcu"], w + p["wcu"])
    print("\n| key kind | share of RCU | share of WCU |")
    print("|---|---:|---:|")
    for k, (r, w) in sorted(kinds.items(), key=lambda kv: -(kv[1][0] / total_r + kv[1][1] / total_w))[:12]:
        print(f"| {k} | {100 * r / total_r:.1f} % | {100 * w / total_w:.1f} % |")
    over = [r for r in rows if r["load_10x"] > 0.5]
    print(f"\n{len(over)} partition(s) above half a limit at 10× the users.")
    if args.json:
        json.dump({"run_rps": run_rps, "rows": rows}, open(args.json, "w"), indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
