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

# Each sample goes to exactly one part (the shares add up to 100 %): the first frame, from the
# leaf up, that matches a part's pattern names it. Wrappers that only forward (tracing's
# `Instrumented`, futures combinators) match nothing, so the search goes on past them.
SDK = re.compile(r"^aws_smithy_runtime|^aws_sdk_dynamodb|^aws_runtime|^aws_smithy_http_client|^aws_smithy_types|^aws_smithy_runtime_api")
PARTS = [
    ("allocator (malloc/free/realloc)", r"^(__libc_)?(malloc|free|realloc|calloc|cfree)(@.*)?$|^_int_(malloc|free|realloc)|malloc_consolidate|unlink_chunk|^__rust_(alloc|dealloc|realloc)|^__rdl_"),
    ("kernel (syscalls: sockets, epoll, futex; scheduling)", r"^\[kernel\]"),
    ("SDK: SigV4 signing", r"^aws_sigv4"),
    ("SDK: endpoint resolution", r"endpoint_lib|::endpoint::|resolve_endpoint|EndpointResolver"),
    ("SDK: request serialisation (DynamoDB JSON out)", r"protocol_serde::.*ser_|aws_smithy_json::serialize|::ser_"),
    ("SDK: response deserialisation (DynamoDB JSON in)", r"protocol_serde::.*de_|aws_smithy_json::deserialize|::de_"),
    ("Redis client (redis-rs)", r"^redis::|^combine::"),
    ("logging and spans (tracing, our JSON lines)", r"^tracing_subscriber|^tracing_core|^tracing::span|rota_lambda::logging|tracing_serde"),
    ("EMF metrics", r"rota_lambda::metrics"),
    ("event parsing (API Gateway event -> request)", r"lambda_http::deserializer|aws_lambda_events|lambda_http::request|LambdaRequest"),
    ("response JSON and our views", r"^serde_json::ser|serde_json::value::ser|rota_api::views|rota_api::http::json"),
    ("HTTP (hyper; SDK or Runtime API, split below)", r"^hyper::|^hyper_util|^h2::|^http::|^httparse"),
    ("SDK: orchestrator, interceptors, config bag, retries", SDK.pattern),
    ("Lambda Runtime API client (lambda_runtime)", r"^lambda_runtime|^lambda_http"),
    ("our code (rota_*: extractors, handler, store)", r"^rota_"),
    ("tokio (scheduler, timers, I/O driver)", r"^tokio::|^mio::"),
    ("serde_json (parsing: event, responses)", r"^serde_json|^serde::"),
]
COMPILED = [(name, re.compile(rx)) for name, rx in PARTS]
HYPER = "HTTP (hyper; SDK or Runtime API, split below)"
# Opening and closing a TCP connection per DynamoDB call: the emulator's server answers every
# request with `Connection: close`; DynamoDB keeps connections alive, so this is a local cost.
CONNECTION = re.compile(r"__sys_connect|__sys_socket|__sys_shutdown|__x64_sys_close|HttpConnector|hyper_util::client::legacy::connect")


def part_of(stack):
    """The part a sample's stack belongs to (leaf first)."""
    for i, frame in enumerate(stack):
        for name, rx in COMPILED:
            if rx.search(frame):
                if name == HYPER:
                    # Whose HTTP: the SDK's (a DynamoDB call) or lambda_runtime's (the
                    # Runtime API: next event, response).
                    if any(SDK.search(f) for f in stack[i + 1:]):
                        return "SDK: HTTP client (hyper)"
                    return "Lambda Runtime API client (lambda_runtime)"
                return name
    return "other (std, core, unnamed)"


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
    ap.add_argument("--top", type=int, default=20)
    args = ap.parse_args()
    parts = collections.Counter()
    self_time = collections.Counter()
    sdk_inclusive = 0
    connection = 0
    total = 0
    with open(args.perf_script, errors="replace") as f:
        for stack in samples(f):
            total += 1
            self_time[stack[0]] += 1
            parts[part_of(stack)] += 1
            sdk_inclusive += any(SDK.search(fr) or fr.startswith("aws_sigv4") for fr in stack)
            connection += any(CONNECTION.search(fr) for fr in stack)
    if total == 0:
        sys.exit("no samples (was the instance busy while perf recorded?)")
    ms = args.cpu_ms
    print(f"{total} samples" + (f"; CPU per warm invocation {ms:.3f} ms (rota-bench, mean)" if ms else ""))
    print()
    print("| part | share | ms per invocation |" if ms else "| part | share |")
    print("|---|---:|---:|" if ms else "|---|---:|")
    order = [name for name, _ in PARTS if name != HYPER] + ["SDK: HTTP client (hyper)", "other (std, core, unnamed)"]
    for name in sorted(set(order) | set(parts), key=lambda n: -parts[n]):
        share = parts[name] / total
        if parts[name] == 0:
            continue
        print(f"| {name} | {share * 100:.1f} % |" + (f" {share * ms:.3f} |" if ms else ""))
    share = sdk_inclusive / total
    print(f"| *of which inside a DynamoDB SDK call (inclusive, incl. its allocations and syscalls)* | *{share * 100:.1f} %* |"
          + (f" *{share * ms:.3f}* |" if ms else ""))
    share = connection / total
    print(f"| *of which a new TCP connection per call to the emulator (a local cost: it closes every connection)* | *{share * 100:.1f} %* |"
          + (f" *{share * ms:.3f}* |" if ms else ""))
    print()
    print("top self-time symbols:")
    for sym, n in self_time.most_common(args.top):
        print(f"  {n * 100 / total:5.1f} %  {sym[:150]}")


if __name__ == "__main__":
    main()
