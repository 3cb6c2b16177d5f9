#!/usr/bin/env python3
"""Create a pool of signed-in accounts for the load tests (stdlib only).

Every account is registered through the public API (POST /api/auth/register), gets one roadmap
(POST /api/roadmaps) and, for the first --posts accounts, one post, so that the feeds, the
dashboard and the roadmap endpoints have data to read. The result is a CSV that artillery's
`payload` and the wrk Lua script read:

    email,password,access_token,refresh_token,user_id,roadmap_id,step_id,post_id

Access tokens live 900 s (ACCESS_TOKEN_TTL_SECS): create the pool right before a run
(scripts/loadtest.sh does).

Why a separate script: the API limits registrations to 20 an hour per client IP (and logins to
30 a minute), and artillery cannot choose its source address. Locally every 127.a.b.c address
reaches the gateway and becomes the event's sourceIp, so with --spread-ips (the default for a
loopback target) each connection binds to its own 127.x.y.z and at most --per-ip accounts are
registered from one address. Against a remote target that is impossible: keep --users at or
below 20 per hour and source IP, or seed the pool another way (e.g. an admin import).

The gateway throttles registration at 10/s (burst 20; template.yaml), so registrations are
paced at --rate per second; a 429 is retried after Retry-After.
"""
import argparse
import csv
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

PASSWORD = "load-test-password-1"


class Client:
    def __init__(self, base, source_ip=None, timeout=60):
        u = urllib.parse.urlsplit(base)
        self.https = u.scheme == "https"
        self.host = u.hostname
        self.port = u.port or (443 if self.https else 80)
        self.prefix = u.path.rstrip("/")
        self.source_ip = source_ip
        self.timeout = timeout

    def call(self, method, path, body=None, token=None):
        src = (self.source_ip, 0) if self.source_ip else None
        if self.https:
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, source_address=src)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout, source_address=src)
        headers = {"accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        if token:
            headers["authorization"] = f"Bearer {token}"
        try:
            conn.request(method, self.prefix + path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            retry = resp.getheader("retry-after")
        finally:
            conn.close()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = {"raw": raw[:200].decode(errors="replace")}
        return resp.status, payload, retry


class Pacer:
    """At most `rate` starts per second across threads."""

    def __init__(self, rate):
        self.interval = 1.0 / rate if rate > 0 else 0
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def wait(self):
        with self.lock:
            now = time.monotonic()
            at = max(now, self.next)
            self.next = at + self.interval
        if at > now:
            time.sleep(at - now)


def call_retrying(client, pacer, method, path, body=None, token=None, tries=8):
    for attempt in range(tries):
        if pacer:
            pacer.wait()
        status, payload, retry = client.call(method, path, body, token)
        if status != 429 and status < 500:
            return status, payload
        delay = float(retry) if (status == 429 and retry) else min(2 ** attempt, 10)
        time.sleep(delay + random.random())
    return status, payload


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", default=os.environ.get("BASE_URL", "http://127.0.0.1:3000"))
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--posts", type=int, default=100, help="accounts (the first N) that also write one post")
    ap.add_argument("--roadmaps", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "out", "pool.csv"))
    ap.add_argument("--rate", type=float, default=8.0, help="registrations per second (gateway: 10/s)")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--per-ip", type=int, default=5, help="accounts registered from one source IP (API: 20/h)")
    ap.add_argument("--spread-ips", action=argparse.BooleanOptionalAction, default=None,
                    help="bind each account's connections to its own 127.x.y.z (default: on for a loopback target)")
    ap.add_argument("--prefix", default=None, help="email prefix (default: lt<epoch>)")
    ap.add_argument("--relogin", metavar="CSV", help="log the accounts of this pool in again (new tokens, same rows)")
    args = ap.parse_args()

    host = urllib.parse.urlsplit(args.target).hostname or ""
    spread = args.spread_ips if args.spread_ips is not None else host in ("127.0.0.1", "localhost")
    prefix = args.prefix or f"lt{int(time.time())}"
    # Random second/third octets: a rerun within the hour starts from fresh addresses.
    base_b, base_c = random.randrange(1, 250), random.randrange(0, 200)

    def source_ip(i):
        if not spread:
            return None
        n = i // args.per_ip
        return f"127.{base_b}.{(base_c + n // 250) % 256}.{n % 250 + 1}"

    status, catalog, _ = Client(args.target).call("GET", "/api/roadmaps/catalog")
    if status != 200:
        sys.exit(f"catalog: {status} {catalog}")
    goals = [g["slug"] for g in catalog["goals"]]

    reg_pacer = Pacer(args.rate)
    post_pacer = Pacer(50)  # POST /api/community/posts: 100/s at the gateway
    rm_pacer = Pacer(25)    # POST /api/roadmaps: 50/s at the gateway
    errors = []

    def one(i):
        c = Client(args.target, source_ip(i))
        email = f"{prefix}-{i:05d}@loadtest.example"
        st, auth = call_retrying(c, reg_pacer, "POST", "/api/auth/register",
                                 {"email": email, "password": PASSWORD, "display_name": f"Load {i}"})
        if st == 409:  # already there (a rerun with --prefix): log in instead
            st, auth = call_retrying(c, reg_pacer, "POST", "/api/auth/login", {"email": email, "password": PASSWORD})
        if st not in (200, 201):
            errors.append(f"register {email}: {st} {auth}")
            return None
        token = auth["access_token"]
        row = {"email": email, "password": PASSWORD, "access_token": token,
               "refresh_token": auth["refresh_token"], "user_id": auth["user"]["id"],
               "roadmap_id": "", "step_id": "", "post_id": ""}
        if args.roadmaps:
            st, rm = call_retrying(c, rm_pacer, "POST", "/api/roadmaps",
                                   {"goal": goals[i % len(goals)], "level": "beginner", "hours_per_week": 6}, token)
            if st == 201:
                row["roadmap_id"] = rm["id"]
                steps = [s for m in rm["milestones"] for s in m["steps"]]
                row["step_id"] = steps[0]["id"] if steps else ""
            else:
                errors.append(f"roadmap {email}: {st} {rm}")
        if i < args.posts:
            st, post = call_retrying(c, post_pacer, "POST", "/api/community/posts",
                                     {"title": f"Seed post {i} ({prefix})",
                                      "content": "Seeded by loadtest/setup_pool.py. " * random.randint(1, 20)}, token)
            if st == 201:
                row["post_id"] = post["id"]
            else:
                errors.append(f"post {email}: {st} {post}")
        return row

    old = []
    if args.relogin:
        with open(args.relogin, newline="") as f:
            old = list(csv.DictReader(f))
        login_pacer = Pacer(min(args.rate * 2, 20))  # POST /api/auth/login: 25/s at the gateway

    def relogin(i):
        row = dict(old[i])
        c = Client(args.target, source_ip(i))
        st, auth = call_retrying(c, login_pacer, "POST", "/api/auth/login",
                                 {"email": row["email"], "password": row["password"]})
        if st != 200:
            errors.append(f"login {row['email']}: {st} {auth}")
            return None
        row["access_token"], row["refresh_token"] = auth["access_token"], auth["refresh_token"]
        return row

    t0 = time.monotonic()
    with ThreadPoolExecutor(args.threads) as ex:
        if args.relogin:
            rows = [r for r in ex.map(relogin, range(len(old))) if r]
        else:
            rows = [r for r in ex.map(one, range(args.users)) if r]
    took = time.monotonic() - t0
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, lineterminator="\n", fieldnames=["email", "password", "access_token", "refresh_token",
                                          "user_id", "roadmap_id", "step_id", "post_id"])
        w.writeheader()
        w.writerows(rows)
    print(f"setup_pool: {len(rows)}/{len(old) if args.relogin else args.users} accounts in {took:.1f} s "
          f"({'spread over 127.x source IPs' if spread else 'one source IP'}) -> {args.out}", file=sys.stderr)
    for e in errors[:10]:
        print("  " + e, file=sys.stderr)
    if len(errors) > 10:
        print(f"  ... {len(errors)} errors in all", file=sys.stderr)
    sys.exit(0 if rows else 1)


if __name__ == "__main__":
    main()
