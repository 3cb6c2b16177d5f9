"""WSGI helpers the emulator's layers share (moto_server.py, moto_rules.py, moto_iam.py).

Each layer reads the request body to decide (faults, DynamoDB's rules, IAM) and must leave it
readable for the layers behind it and for moto.
"""

import io


def read_body(environ) -> bytes:
    """Reads the request body and puts it back, readable again, for the layers behind."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        body = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):  # chunked: werkzeug ends the stream for us
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
