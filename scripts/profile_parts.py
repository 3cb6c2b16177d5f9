#!/usr/bin/env python3
"""Where a warm instance's CPU goes, by part: reads `perf script` output (samples with call
graphs) and prints, for each part of an invocation, the share of samples whose stack passes
through it (inclusive, so nested parts such as SigV4 inside the SDK call are also counted in
their parent), then the top self-time symbols.

    python3 scripts/profile_parts.py .local/profile/users-me-get/perf.txt [--cpu-ms 0.5]

With --cpu-ms (the harness's CPU per warm invocation) each share is also given in ms.
Written here rather than taken from a tool: the parts are this codebase's (crate prefixes of the
SDK, lambda_runtime, our crates), which no generic flame-graph tool knows.
"""
import argparse
import collections
import re
import sys

# (part, regex on a frame's symbol). Order matters only for the self-time attribution below.
PARTS = [
    ("Lambda Runtime API client (lambda_runtime, its hyper client)", r"^lambda_runtime|^lambda_runtime_api_client"),
    ("event parsing (API Gateway event -> http::Request)", r"lambda_http::deserializer|aws_lambda_events|lambda_http::request::|LambdaRequest"),
    ("DynamoDB call through the SDK (all of it)", r"^aws_sdk_dynamodb|^aws_smithy_runtime|^aws_runtime"),
    ("  SigV4 signing", r"^aws_sigv4"),
    ("  endpoint resolution", r"endpoint"),
    ("  interceptors, config bag, retry machinery", r"interceptor|config_bag|ConfigBag|retries|RuntimeComponents|aws_smithy_runtime::client::orchestrator"),
    ("  request serialisation (DynamoDB JSON out)", r"protocol_serde::.*ser_|aws_smithy_json::serialize|operation::.*::ser"),
    ("  response deserialisation (DynamoDB JSON in)", r"protocol_serde::.*de_|aws_smithy_json::deserialize"),
    ("  HTTP client (hyper, connection pool)", r"^aws_smithy_http_client|^hyper_util|^hyper::"),
    ("Redis (redis-rs)", r"^redis::"),
    ("our handler code (rota_*)", r"^rota_api::handlers|^rota_store|^rota_api::feeds|^rota_api::dashboard|^rota_api::views"),
    ("  mapping to views", r"^rota_api::views|view"),
    ("response JSON (serde_json out)", r"serde_json::ser|serde_json::value::ser|to_value|to_vec|to_string"),
    ("logging (tracing)", r"^tracing_subscriber|^tracing_core|^tracing::|rota_lambda::logging"),
    ("EMF metrics", r"rota_lambda::metrics"),
    ("allocator (malloc/free/realloc)", r"^(__libc_)?(malloc|free|realloc|calloc|cfree)$|^_int_(malloc|free|realloc)|malloc_consolidate|^__rust_(alloc|dealloc|realloc)|^__rdl_"),
    ("kernel (syscalls: network I/O, epoll, futex, page faults)", r"\[kernel|^(entry_SYSCALL|__x64_sys|do_syscall|syscall_exit|asm_exc_page_fault)"),
    ("tokio scheduler and I/O driver", r"^tokio::runtime|^mio::"),
    ("TLS / crypto (rustls, aws-lc)", r"^rustls|^aws_lc|^ring::"),
]
COMPILED = [(name, re.compile(rx)) for name, rx in PARTS]


def demangle_simplify(sym: str) -> str:
    sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
    sym = re.sub(r"::h[0-9a-f]{16}$", "", sym)
    sym = sym.lstrip("<").replace("<", "").replace(">", "")
    return sym


def samples(lines):
    stack = []
    for line in lines:
        if not line.strip():
            if stack:
                yield stack
            stack = []
            continue
        if line.startswith((" ", "\t")):
            parts = line.strip().split(None, 1)
            if len(parts) == 2:
                sym = parts[1]
                dso = ""
                m = re.match(r"(.*) \((.*)\)$", sym)
                if m:
                    sym, dso = m.group(1), m.group(2)
                sym = demangle_simplify(sym)
                if dso.startswith("[kernel"):
                    sym = "[kernel] " + sym
                stack.append(sym)
    if stack:
        yield stack


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("perf_script")
    ap.add_argument("--cpu-ms", type=float, default=None)
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    inclusive = collections.Counter()
    self_time = collections.Counter()
    total = 0
    with open(args.perf_script, errors="replace") as f:
        for stack in samples(f):
            total += 1
            self_time[stack[0]] += 1
            for name, rx in COMPILED:
                if any(rx.search(frame) for frame in stack):
                    inclusive[name] += 1
    if total == 0:
        sys.exit("no samples (was the instance busy while perf recorded?)")
    print(f"{total} samples")
    print("| part | share of CPU (inclusive) |" + (" ms per invocation |" if args.cpu_ms else ""))
    print("|---|---:|" + ("---:|" if args.cpu_ms else ""))
    for name, _ in PARTS:
        share = inclusive[name] / total
        ms = f" {share * args.cpu_ms:.3f} |" if args.cpu_ms else ""
        print(f"| {name} | {share * 100:.1f} % |{ms}")
    print()
    print("top self-time symbols:")
    for sym, n in self_time.most_common(args.top):
        print(f"  {n * 100 / total:5.1f} %  {sym[:150]}")


if __name__ == "__main__":
    main()
