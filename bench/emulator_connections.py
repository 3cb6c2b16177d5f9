"""Whether the functions keep their connections to the emulator, through the gateway
(BENCHMARKS.md, "The emulator keeps connections alive").

    .venv/bin/python bench/emulator_connections.py [--bin-dir target/debug] [--requests 400]
                                                   [--emulator DIR]

Starts the emulator wrapper (DIR/local/moto-server, default this repository's; with IAM and the
mail drop, as `make run` starts it), then a stack from the binaries of --bin-dir pointed at it
(`rota-local serve --aws-endpoint`), registers an account with a post, warms every function,
and sends GET /api/users/me, a feed page, a like and an unlike in turn, one at a time. Reports
what the emulator counted over those requests (GET /_rota/connections: connections accepted,
calls served), its CPU and the function instances' CPU per gateway request (/proc: the `rota`
processes rota-local started, debug builds by default), and the requests' median latency.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from stacklib import ROOT, call, cpu_s, free_port, member_mix


def functions_cpu_s(parent: int) -> float:
    """CPU of the function instances (`rota` processes) `parent` started, whichever are alive."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                head, tail = f.read().rsplit(")", 1)
        except OSError:
            continue
        fields = tail.split()
        if head.split("(", 1)[1] == "rota" and int(fields[1]) == parent:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def counts(endpoint: str) -> dict:
    with urllib.request.urlopen(endpoint + "/_rota/connections", timeout=10) as response:
        return json.load(response)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", default="target/debug")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--emulator", default=ROOT, help="a checkout whose local/moto-server to run")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="emulator-connections-")
    moto_port, port = free_port(), free_port()
    endpoint = f"http://127.0.0.1:{moto_port}"
    with open(os.path.join(work, "moto.log"), "w") as log:
        moto = subprocess.Popen([os.path.join(args.emulator, "local/moto-server"), "-H", "127.0.0.1",
                                 "-p", str(moto_port), "--iam", "--mail-dir", os.path.join(work, "mail")],
                                stdout=log, stderr=log)
    serve = None
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                counts(endpoint)
                break
            except OSError:
                if time.monotonic() > deadline or moto.poll() is not None:
                    sys.exit(f"the emulator did not start: see {work}/moto.log")
                time.sleep(0.2)
        serve = subprocess.Popen(
            [os.path.join(args.bin_dir, "rota-local"), "serve", "--no-schedules", "--port", str(port),
             "--aws-endpoint", endpoint, "--logs", os.path.join(work, "logs"), "--faults", "none"],
            cwd=ROOT, env={**os.environ, "ROTA_FN_LIKE_LIMIT": "1000000/60"},
            stdout=subprocess.PIPE, stderr=open(os.path.join(work, "stderr"), "w"), text=True)
        line = serve.stdout.readline()
        if "serving on" not in line:
            sys.exit(f"the stack did not start: {line!r} (see {work}/stderr)")
        base = f"http://127.0.0.1:{port}"
        token, plan = member_mix(base)
        for method, path in plan * 3:  # every function warm: its instance started, its pool open
            call(base, method, path, token)
        first, cpu0, fn0 = counts(endpoint), cpu_s(moto.pid), functions_cpu_s(serve.pid)
        latencies = []
        for i in range(args.requests):
            method, path = plan[i % len(plan)]
            status, payload, elapsed = call(base, method, path, token)
            assert status == 200, (method, path, status, payload)
            latencies.append(elapsed * 1000)
        cpu, fn_cpu, last = cpu_s(moto.pid) - cpu0, functions_cpu_s(serve.pid) - fn0, counts(endpoint)
        calls = last["requests"] - first["requests"] - 1  # less the count's own request
        print(json.dumps({
            "requests": args.requests, "emulator_calls": calls,
            "connections_accepted": last["accepted"] - first["accepted"] - 1,  # less the count's own
            "emulator_cpu_ms_per_request": round(cpu * 1000 / args.requests, 2),
            "emulator_cpu_ms_per_call": round(cpu * 1000 / calls, 3),
            "functions_cpu_ms_per_request": round(fn_cpu * 1000 / args.requests, 3),
            "p50_ms": round(statistics.median(latencies), 2),
        }), flush=True)
    finally:
        for proc in (serve, moto):
            if proc is not None:
                proc.terminate()
                proc.wait(30)


if __name__ == "__main__":
    main()
