#!/usr/bin/env python3
"""CPU used by each part of the local stack during a load run (stdlib, Linux /proc).

    python3 loadtest/cpu_sample.py --seconds 30 --bin-dir target/release [--json out.json]

Samples every process's utime+stime every --interval seconds and adds up the deltas by group:
  gateway   rota-local (API Gateway + Lambda service stand-in)
  functions the function binaries it started (from --bin-dir)
  moto      the DynamoDB/SQS emulator (Python, one GIL: at most ~1 core)
  redis     redis-server
  loadgen   wrk / artillery (node)
  builds    cargo / rustc / cc / ld (other engineers compiling on the same machine)
  other     everything else
and prints cores used (CPU-seconds per second) per group, plus the machine's load average.
A process that exits between samples loses at most one interval.
"""
import argparse
import json
import os
import time

TICK = os.sysconf("SC_CLK_TCK")


def snapshot():
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICK  # utime + stime
        out[int(pid)] = (comm, cmd, cpu)
    return out


def group(comm, cmd, bin_dir):
    if comm == "rota-local":
        return "gateway"
    if "moto_server" in cmd or "moto-server" in cmd or "moto_server.py" in cmd:
        return "moto"
    if comm.startswith("redis-server"):
        return "redis"
    if comm == "wrk" or (comm in ("node", "artillery") and "artillery" in cmd):
        return "loadgen"
    if bin_dir and cmd.split(" ")[0].startswith(bin_dir):
        return "functions"
    if comm in ("cargo", "rustc", "cc", "ld", "cc1", "as", "collect2", "ld.lld", "build-script-build") or "rustc" in comm:
        return "builds"
    return "other"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--bin-dir", default="")
    ap.add_argument("--json")
    args = ap.parse_args()
    bin_dir = os.path.abspath(args.bin_dir) if args.bin_dir else ""
    totals, last = {}, snapshot()
    t0 = time.monotonic()
    end = t0 + args.seconds
    peak_instances = 0
    while time.monotonic() < end:
        time.sleep(args.interval)
        now = snapshot()
        instances = 0
        for pid, (comm, cmd, cpu) in now.items():
            prev = last.get(pid)
            delta = cpu - prev[2] if prev and prev[0] == comm else 0.0
            g = group(comm, cmd, bin_dir)
            totals[g] = totals.get(g, 0.0) + max(delta, 0.0)
            if g == "functions":
                instances += 1
        peak_instances = max(peak_instances, instances)
        last = now
    secs = time.monotonic() - t0
    load = open("/proc/loadavg").read().split()[:3]
    cores = {g: round(v / secs, 2) for g, v in sorted(totals.items(), key=lambda kv: -kv[1])}
    result = {"seconds": round(secs, 1), "cores_used": cores, "function_instances_peak": peak_instances,
              "loadavg": load, "cpus": os.cpu_count()}
    line = ", ".join(f"{g} {c:.2f}" for g, c in cores.items())
    print(f"CPU (cores used, of {os.cpu_count()}) over {secs:.0f} s: {line}; function instances (peak) "
          f"{peak_instances}; loadavg {' '.join(load)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    main()
