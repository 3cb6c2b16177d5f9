"""The emulator's cost per DynamoDB call, from clients that keep their connections alive
(BENCHMARKS.md, "The emulator keeps connections alive").

    .venv/bin/python bench/emulator_calls.py [--calls 4000] [--clients 1] [--rounds 3]
    .venv/bin/python bench/emulator_calls.py --endpoint http://127.0.0.1:5005 --pid <emulator pid>

Starts the emulator wrapper (local/moto-server, no fault profile, IAM off) on a free port unless
--endpoint names a running one, creates a table with 50 items in one partition, then sends
GetItem and Query (Limit 20) in turn, `--clients` connections at once (one thread each, every
connection kept open by http.client as long as the server allows it). Reports per round: calls
per second, the emulator's CPU per call (its process time over the round, from /proc), and how
many TCP connections the clients opened (http.client reconnects when the server closed the last
one): one per client when the emulator keeps connections alive, one per call when it does not.
The requests are the DynamoDB JSON protocol as the SDKs send it, unsigned (the emulator checks
no signature with IAM off; the Authorization header only names the account and region).
"""

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE = "BenchTable"
AUTH = ("AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Client:
    """One HTTP/1.1 connection, reopened whenever the server closed it (counted)."""

    def __init__(self, host: str, port: int):
        self.conn = http.client.HTTPConnection(host, port, timeout=30)
        self.opened = 0

    def call(self, op: str, body: dict) -> dict:
        if self.conn.sock is None:
            self.conn.connect()
            self.opened += 1
        payload = json.dumps(body).encode()
        self.conn.request("POST", "/", body=payload, headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"DynamoDB_20120810.{op}",
            "X-Amz-Date": "20250101T000000Z",
            "Authorization": AUTH,
        })
        response = self.conn.getresponse()
        data = response.read()  # http.client closes the socket here on `Connection: close`
        if response.status != 200:
            raise RuntimeError(f"{op}: {response.status} {data[:300]!r}")
        return json.loads(data)


def setup(client: Client, items: int) -> None:
    try:
        client.call("DeleteTable", {"TableName": TABLE})
    except RuntimeError:
        pass
    client.call("CreateTable", {
        "TableName": TABLE, "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                      {"AttributeName": "sk", "KeyType": "RANGE"}],
    })
    for i in range(items):
        client.call("PutItem", {"TableName": TABLE, "Item": {
            "pk": {"S": "USER#bench"}, "sk": {"S": f"POST#{i:05d}"},
            "title": {"S": f"post {i}"}, "likes": {"N": str(i)}, "body": {"S": "x" * 200}}})


def work(client: Client, calls: int) -> None:
    get = {"TableName": TABLE, "Key": {"pk": {"S": "USER#bench"}, "sk": {"S": "POST#00007"}}}
    query = {"TableName": TABLE, "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
             "ExpressionAttributeValues": {":pk": {"S": "USER#bench"}, ":p": {"S": "POST#"}},
             "Limit": 20, "ScanIndexForward": False}
    for i in range(calls):
        if i % 2 == 0:
            assert "Item" in client.call("GetItem", get)
        else:
            assert len(client.call("Query", query)["Items"]) == 20


def round_once(host, port, pid, calls, clients) -> dict:
    pool = [Client(host, port) for _ in range(clients)]
    for c in pool:  # every connection open before the clock starts
        work(c, 2)
        c.opened = 0
    errors = []

    def run(c):
        try:
            work(c, calls // clients)
        except Exception as e:  # noqa: BLE001 — reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(c,)) for c in pool]
    cpu0, t0 = cpu_s(pid), time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall, cpu = time.perf_counter() - t0, cpu_s(pid) - cpu0
    if errors:
        raise errors[0]
    done = calls // clients * clients
    return {"calls": done, "clients": clients, "wall_s": round(wall, 3),
            "calls_per_s": round(done / wall, 1), "cpu_ms_per_call": round(cpu * 1000 / done, 3),
            "connections_opened": sum(c.opened for c in pool)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", help="a running emulator (default: start one)")
    parser.add_argument("--pid", type=int, help="the running emulator's process id (with --endpoint)")
    parser.add_argument("--calls", type=int, default=4000, help="per round (default 4000)")
    parser.add_argument("--clients", type=int, default=1, help="connections at once (default 1)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--items", type=int, default=50)
    args = parser.parse_args()
    proc = None
    if args.endpoint:
        if not args.pid:
            sys.exit("--endpoint needs --pid (the emulator's process, for its CPU time)")
        url = urllib.parse.urlsplit(args.endpoint)
        host, port, pid = url.hostname, url.port, args.pid
    else:
        host, port = "127.0.0.1", free_port()
        log = tempfile.NamedTemporaryFile(prefix="emulator-calls-", suffix=".log", delete=False)
        env = {**os.environ, "ROTA_EMULATOR_SLOW_MS": "0"}
        proc = subprocess.Popen([os.path.join(ROOT, "local/moto-server"), "-H", host, "-p", str(port)],
                                stdout=subprocess.DEVNULL, stderr=log, env=env)
        pid = proc.pid
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                setup(Client(host, port), args.items)
                break
            except OSError:
                if time.monotonic() > deadline or (proc and proc.poll() is not None):
                    raise
                time.sleep(0.2)
        # Warm-up: moto imports the backend and compiles its expression parser on first use.
        work(Client(host, port), 200)
        for _ in range(args.rounds):
            print(json.dumps(round_once(host, port, pid, args.calls, args.clients)), flush=True)
    finally:
        if proc:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
