"""What IAM enforcement costs per request on the local stack (BENCHMARKS.md, "IAM enforced").

    .venv/bin/python bench/iam_cost.py [--bin-dir target/debug] [--requests 400] [--rounds 3]

Starts two stacks in turn from the same binaries, one as `make run` runs it (every function
under its role, the emulator checking each call) and one with `--no-iam`, and sends both the
same requests: GET /api/users/me, a feed page, a like and an unlike, one at a time. For each it
reports the emulator's CPU per request (its process time over the requests, from /proc) and
the requests' median and 95th-percentile latency. In AWS the checks are IAM's, not ours: the
figure that matters there is the functions' own, and they sign the same SigV4 request either
way (one header more, the session token).
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = response.read()
            status = response.status
    except urllib.error.HTTPError as e:
        payload, status = e.read(), e.code
    return status, payload, time.perf_counter() - started


def emulator_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def moto_pid(port: int) -> int:
    out = subprocess.run(["pgrep", "-f", f"moto_server.py -H 127.0.0.1 -p {port}"],
                         capture_output=True, text=True).stdout.split()
    return int(out[0])


def measure(bin_dir: str, iam: bool, requests: int):
    port, moto_port = free_port(), free_port()
    logs = tempfile.mkdtemp(prefix="iam-cost-")
    args = [os.path.join(bin_dir, "rota-local"), "serve", "--no-schedules", "--port", str(port),
            "--moto-port", str(moto_port), "--logs", os.path.join(logs, "logs"), "--faults", "none"]
    if not iam:
        args.append("--no-iam")
    # The like limit (60 a minute) lifted: the likes here measure the emulator, not the limit.
    env = {**os.environ, "ROTA_FN_LIKE_LIMIT": "1000000/60"}
    serve = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True)
    try:
        line = serve.stdout.readline()
        if "serving on" not in line:
            sys.exit(f"the stack did not start: {line!r}")
        base = f"http://127.0.0.1:{port}"
        email = f"bench-{time.time_ns()}@example.com"
        status, payload, _ = call(base, "POST", "/api/auth/register",
                                  body={"email": email, "password": "correct horse", "display_name": "Bench"})
        assert status == 201, payload
        token = json.loads(payload)["access_token"]
        status, payload, _ = call(base, "POST", "/api/community/posts", token,
                                  {"title": "Bench", "content": "A post to like."})
        assert status == 201, payload
        post = json.loads(payload)["id"]
        plan = [("GET", "/api/users/me"), ("GET", "/api/community/posts?limit=10"),
                ("POST", f"/api/community/posts/{post}/like"), ("DELETE", f"/api/community/posts/{post}/like")]
        # Warm every function (cold starts and first token checks out of the figures).
        for method, path in plan * 3:
            call(base, method, path, token)
        pid = moto_pid(moto_port)
        before = emulator_cpu_s(pid)
        latencies = []
        for i in range(requests):
            method, path = plan[i % len(plan)]
            status, payload, elapsed = call(base, method, path, token)
            assert status == 200, (method, path, status, payload)
            latencies.append(elapsed * 1000)
        cpu_ms = (emulator_cpu_s(pid) - before) * 1000 / requests
        latencies.sort()
        return cpu_ms, statistics.median(latencies), latencies[int(0.95 * len(latencies))]
    finally:
        serve.terminate()
        serve.wait(30)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", default="target/debug")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows = {True: [], False: []}
    for _ in range(args.rounds):
        for iam in (True, False):  # alternated: a machine that slows down hits both
            rows[iam].append(measure(args.bin_dir, iam, args.requests))
    print(f"{args.requests} requests x {args.rounds} rounds, binaries {args.bin_dir}")
    print("stack      emulator CPU ms/request   p50 ms   p95 ms   (median of rounds)")
    for iam in (True, False):
        cpu, p50, p95 = (statistics.median(r[k] for r in rows[iam]) for k in range(3))
        print(f"{'IAM' if iam else '--no-iam':10} {cpu:24.2f} {p50:8.2f} {p95:8.2f}")


if __name__ == "__main__":
    main()
