"""WSGI helpers the emulator's layers share (moto_server.py, moto_rules.py, moto_iam.py), and
the HTTP server that serves them (serve).

Each layer reads the request body to decide (faults, DynamoDB's rules, IAM) and must leave it
readable for the layers behind it and for moto.
"""

import io
import json
import threading

# Worker threads of the HTTP server: requests served at once. A fixed pool (cheroot grows none),
# so it covers what waits rather than works: SQS long polls (up to 20 s each, one per queue
# poller), fault-profile latency (up to max_ms), calls queued on a partition lock. Idle workers
# cost a blocked thread each.
SERVER_THREADS = 128
# An idle kept-alive connection is closed after this long: longer than the SDKs keep one in
# their pool (90 s, hyper's default), so the client always gives it up first and never sends a
# call on a connection the server is closing.
IDLE_TIMEOUT_S = 120


def read_body(environ) -> bytes:
    """Reads the request body and puts it back, readable again, for the layers behind."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        body = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):  # chunked: the server ends the stream for us
        body = stream.read()
    else:
        body = b""
    set_body(environ, body)
    return body


def set_body(environ, body: bytes) -> None:
    """Replaces the request body (what the layers behind read)."""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))


class SlowLog:
    """Logs (stderr: moto.log under rota-local) every request slower than `ms` and every full
    garbage collection slower than a tenth of it: what to look at when a function's call to
    the emulator timed out. `ROTA_EMULATOR_SLOW_MS` sets `ms` (default 300; 0 turns it off)."""

    def __init__(self, app, ms: float):
        import gc
        import sys
        import threading
        import time

        self.app, self.ms, self._time, self._sys = app, ms, time, sys
        self._gc_started = threading.local()

        def on_gc(phase, info):
            if info.get("generation") != 2:
                return
            if phase == "start":
                self._gc_started.t = time.perf_counter()
            elif getattr(self._gc_started, "t", None) is not None:
                took = (time.perf_counter() - self._gc_started.t) * 1000
                if took >= ms / 10:
                    print(f"rota-slow: {time.strftime('%H:%M:%S')} full garbage collection {took:.0f} ms "
                          f"({info.get('collected')} collected)", file=sys.stderr, flush=True)

        if ms > 0:
            gc.callbacks.append(on_gc)

    def __call__(self, environ, start_response):
        if self.ms <= 0:
            return self.app(environ, start_response)
        started = self._time.perf_counter()
        try:
            return self.app(environ, start_response)
        finally:
            took = (self._time.perf_counter() - started) * 1000
            if took >= self.ms:
                target = environ.get("HTTP_X_AMZ_TARGET") or environ.get("PATH_INFO")
                print(f"rota-slow: {self._time.strftime('%H:%M:%S')} {target} took {took:.0f} ms",
                      file=self._sys.stderr, flush=True)


def keep_collections_short(every_s: float = 10.0) -> None:
    """Moves what the emulator has kept so far out of the collector's sight, every `every_s`.

    The tables live in this process as millions of small Python objects that never become
    garbage, and a full collection walks all of them: after a test suite's worth of items one
    took 2 s (logged by SlowLog), during which no call was answered and the functions' calls ran
    out of their budget. `gc.freeze()` parks the objects alive now in a generation no
    collection walks (cheap: a list splice), so a full collection walks only what came since.
    The price: cyclic garbage created before a freeze is never freed; the emulator's requests
    leave little of it and live no longer than the stack."""
    import gc
    import threading
    import time

    def freeze_periodically():
        while True:
            time.sleep(every_s)
            gc.freeze()

    threading.Thread(target=freeze_periodically, name="gc-freeze", daemon=True).start()


class Connections:
    """The outermost layer: counts the connections the server accepted (`accepted()`, called by
    serve) and the requests served, and answers GET /_rota/connections with both,
    {"accepted": n, "requests": n}: with clients that keep their connections, far fewer
    connections than requests.

    A chunked request body is read whole here (and handed on with its length): the server
    drains what a layer left unread of a body of known length before it reads the next request
    on the connection, but not of a chunked one, which would then be read as the next request."""

    def __init__(self, app):
        self.app = app
        self._lock = threading.Lock()
        self._accepted = 0
        self._requests = 0

    def accepted(self) -> None:
        with self._lock:
            self._accepted += 1

    def counts(self) -> dict:
        with self._lock:
            return {"accepted": self._accepted, "requests": self._requests}

    def __call__(self, environ, start_response):
        with self._lock:
            self._requests += 1
        if environ.get("wsgi.input_terminated") and not environ.get("CONTENT_LENGTH"):
            read_body(environ)
        if environ.get("PATH_INFO") == "/_rota/connections" and environ.get("REQUEST_METHOD") == "GET":
            body = json.dumps(self.counts()).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        return self.app(environ, start_response)


def serve(app, host: str, port: int) -> None:
    """Serves `app` on host:port with HTTP/1.1 keep-alive, until an exception (SystemExit on
    SIGTERM) leaves it. The server's threads are not daemons: the caller ends the process.

    moto's own server is werkzeug's development server, which ends every response with
    `Connection: close` (werkzeug >= 2.1, whatever the protocol version), so every SDK call was
    a new TCP connection and a new thread: 15-22 % of each function's local CPU profile
    (BENCHMARKS.md, "The emulator keeps connections alive"). cheroot (pure Python, on PyPy too)
    keeps them: idle connections wait in one selector, not in a thread each."""
    from cheroot import server as http_server
    from cheroot import wsgi

    counted = Connections(app)

    class CountedConnection(http_server.HTTPConnection):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            counted.accepted()

    server = wsgi.Server((host, port), counted, numthreads=SERVER_THREADS, timeout=IDLE_TIMEOUT_S,
                         # Bursts of new connections (a load test's first second) wait here.
                         request_queue_size=1024)
    server.ConnectionClass = CountedConnection
    # cheroot closes a connection after its response once 10 wait idle (the default): every
    # function instance keeps its own.
    server.keep_alive_conn_limit = None
    server.prepare()
    server.serve()
