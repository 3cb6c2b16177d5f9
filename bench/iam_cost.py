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
import os
import statistics
import subprocess
import sys
import tempfile

from stacklib import ROOT, call, cpu_s, free_port, member_mix


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
        token, plan = member_mix(base)
        # Warm every function (cold starts and first token checks out of the figures).
        for method, path in plan * 3:
            call(base, method, path, token)
        pid = moto_pid(moto_port)
        before = cpu_s(pid)
        latencies = []
        for i in range(requests):
            method, path = plan[i % len(plan)]
            status, payload, elapsed = call(base, method, path, token)
            assert status == 200, (method, path, status, payload)
            latencies.append(elapsed * 1000)
        cpu_ms = (cpu_s(pid) - before) * 1000 / requests
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
