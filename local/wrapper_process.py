"""The emulator wrapper (local/moto-server) as a child process, for the wrapper's own tests
(test_moto_*.py): on a free port, its stderr in a temporary file, waited for, stopped; and what
those tests send it (clients without retries, DynamoDB items, IAM roles), written once here."""

import json
import os
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

LAUNCHER = Path(__file__).resolve().parent / "moto-server"
REGION = "us-east-1"
ACCOUNT = "123456789012"
# Retries off, so every injected fault and every refusal is seen.
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=5, read_timeout=60)
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com"]},
                                                 "Action": ["sts:AssumeRole"]}]}


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

    def client(self, service: str, config: Config = NO_RETRIES, key: str = "test", secret: str = "test",
               token: str | None = None):
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION, config=config,
                            aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token)

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


def profile_file(text: str) -> str:
    """A temporary fault profiles file holding `text`; the caller unlinks it."""
    with tempfile.NamedTemporaryFile("w", prefix="faults-", suffix=".yaml", delete=False) as f:
        f.write(text)
    return f.name


def stop_all(wrappers, *files: str) -> None:
    """Stops the wrappers, then removes the files they read (their fault profiles)."""
    for wrapper in wrappers:
        wrapper.stop()
    for path in files:
        Path(path).unlink(missing_ok=True)


class IamWrapperTest(unittest.TestCase):
    """Tests against one wrapper with --iam, started by `start` in `setUpClass`; callers sign as
    `client(service, key, secret, token)` and give roles through `post`."""

    wrapper: Wrapper

    @classmethod
    def start(cls, *args: str, name: str) -> None:
        cls.wrapper = Wrapper("--iam", *args, name=name)
        cls.endpoint = cls.wrapper.endpoint
        cls.wrapper.wait_until(lambda: urllib.request.urlopen(cls.endpoint + "/_rota/iam", timeout=5))

    @classmethod
    def tearDownClass(cls):
        cls.wrapper.stop()

    @classmethod
    def client(cls, service, key, secret, token=None):
        return cls.wrapper.client(service, key=key, secret=secret, token=token)

    @classmethod
    def post(cls, path, body, method="POST"):
        request = urllib.request.Request(cls.endpoint + path, data=json.dumps(body).encode(), method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as response:
            return json.load(response)


def role(*statements, managed=()) -> dict:
    """A Lambda execution role with `statements` inline and the `managed` policies."""
    policies = [{"PolicyName": "Inline", "PolicyDocument": {"Version": "2012-10-17", "Statement": list(statements)}}]
    return {"AssumeRolePolicyDocument": TRUST, "ManagedPolicyArns": list(managed),
            "Policies": policies if statements else []}


def key(pk: str, sk: str = "0") -> dict:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def put(table: str, pk: str, sk: str = "0") -> dict:
    return {"Put": {"TableName": table, "Item": {**key(pk, sk), "v": {"S": "x"}}}}


def add(table: str, pk: str, by: int = 1, sk: str = "0") -> dict:
    return {"Update": {"TableName": table, "Key": key(pk, sk), "UpdateExpression": "ADD n :d",
                       "ExpressionAttributeValues": {":d": {"N": str(by)}}}}


def error(call) -> ClientError:
    try:
        call()
    except ClientError as e:
        return e
    raise AssertionError("no error")
