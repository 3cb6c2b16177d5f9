"""The emulator wrapper (local/moto-server) as a child process, for the wrapper's own tests
(test_moto_faults.py, test_moto_rules.py, test_moto_iam.py): on a free port, its stderr in a
temporary file, waited for, stopped."""

import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

LAUNCHER = Path(__file__).resolve().parent / "moto-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Wrapper:
    """One wrapper process started with `args`; `env` changes its environment (a value of
    None removes the variable)."""

    def __init__(self, *args: str, name: str = "moto", env: dict | None = None):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.name = name
        self.log = tempfile.NamedTemporaryFile(prefix=f"{name}-", suffix=".log", delete=False)
        environ = dict(os.environ)
        for key, value in (env or {}).items():
            if value is None:
                environ.pop(key, None)
            else:
                environ[key] = value
        self.proc = subprocess.Popen([str(LAUNCHER), "-H", "127.0.0.1", "-p", str(self.port), *args],
                                     stdout=subprocess.DEVNULL, stderr=self.log, env=environ)

    def wait_until(self, ready, timeout: float = 60.0) -> None:
        """Calls `ready()` until it stops raising OSError (the wrapper answers)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}: exited {self.proc.returncode}: {self.stderr()}")
            try:
                ready()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stderr(self) -> str:
        return Path(self.log.name).read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)
