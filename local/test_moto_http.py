"""The emulator wrapper's HTTP server (local/moto_wsgi.py `serve`): connections kept alive
across requests, whatever the request's body (of known length or chunked, read by the layers
or not), counted at GET /_rota/connections; and SIGTERM ends it at once, even with an SQS long
poll in flight.

    .venv/bin/python -m unittest local/test_moto_http.py -v      (from the repo root)
"""

import http.client
import json
import sys
import threading
import time
import unittest
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from wrapper_process import Wrapper  # noqa: E402

AUTH = ("AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=host;x-amz-date;x-amz-target, Signature=0")


def dynamodb_headers(op: str) -> dict:
    return {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"DynamoDB_20120810.{op}",
            "X-Amz-Date": "20250101T000000Z", "Authorization": AUTH}


class KeepAlive(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.wrapper = Wrapper(name="moto-http")
        cls.wrapper.wait_until(lambda: cls.connections())

    @classmethod
    def tearDownClass(cls):
        cls.wrapper.stop()

    @classmethod
    def connections(cls) -> dict:
        conn = http.client.HTTPConnection("127.0.0.1", cls.wrapper.port, timeout=10)
        try:
            conn.request("GET", "/_rota/connections")
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def exchange(self, conn, method, path, body=None, headers=None, chunked=False):
        """One request on `conn`: (status, body); fails if the server asked to close."""
        conn.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        response = conn.getresponse()
        data = response.read()
        self.assertNotEqual((response.getheader("Connection") or "").lower(), "close", (method, path))
        self.assertFalse(response.will_close, (method, path))
        return response.status, data

    def test_requests_on_one_connection_are_served_on_it(self):
        before = self.connections()
        conn = http.client.HTTPConnection("127.0.0.1", self.wrapper.port, timeout=10)
        self.addCleanup(conn.close)
        table = {"TableName": "ka", "BillingMode": "PAY_PER_REQUEST",
                 "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                 "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}
        status, _ = self.exchange(conn, "POST", "/", json.dumps(table).encode(), dynamodb_headers("CreateTable"))
        self.assertEqual(status, 200)
        sock = conn.sock
        # A chunked body (an SDK may stream one).
        item = {"TableName": "ka", "Item": {"pk": {"S": "a"}, "n": {"N": "1"}}}
        payload = json.dumps(item).encode()
        status, _ = self.exchange(conn, "POST", "/", iter([payload[:10], payload[10:]]),
                                  dynamodb_headers("PutItem"), chunked=True)
        self.assertEqual(status, 200)
        # Bodies no layer reads (the fault and capacity reports take none), of known length
        # (the server drains it) and chunked (read whole by the outermost layer).
        status, report = self.exchange(conn, "GET", "/_rota/faults", b"x" * 5000,
                                       {"Content-Length": "5000"})
        self.assertEqual((status, json.loads(report)["profile"]), (200, "none"))
        status, capacity = self.exchange(conn, "GET", "/_rota/capacity", iter([b"y" * 3000, b"z" * 10]),
                                         chunked=True)
        self.assertEqual(status, 200)
        self.assertIn("partitions", json.loads(capacity))
        status, body = self.exchange(conn, "POST", "/", json.dumps({"TableName": "ka", "Key": {"pk": {"S": "a"}}}),
                                     dynamodb_headers("GetItem"))
        self.assertEqual((status, json.loads(body)["Item"]["n"]), (200, {"N": "1"}))
        self.assertIs(conn.sock, sock, "the connection was reopened")
        after = self.connections()
        # Since the first count (which counted itself): this test's connection and the second
        # count's; its five requests and the second count.
        self.assertEqual(after["accepted"] - before["accepted"], 2, (before, after))
        self.assertEqual(after["requests"] - before["requests"], 6, (before, after))


class Shutdown(unittest.TestCase):
    def test_sigterm_ends_the_wrapper_at_once_during_a_long_poll(self):
        wrapper = Wrapper(name="moto-http-stop")
        self.addCleanup(wrapper.stop)
        wrapper.wait_until(lambda: urllib.request.urlopen(wrapper.endpoint + "/_rota/connections", timeout=5))
        sqs = wrapper.client("sqs")
        url = sqs.create_queue(QueueName="idle")["QueueUrl"]
        polling = threading.Thread(target=lambda: self.poll(sqs, url), daemon=True)
        polling.start()
        time.sleep(1.0)  # the long poll is in the server
        started = time.monotonic()
        wrapper.proc.terminate()
        self.assertEqual(wrapper.proc.wait(10), 0, wrapper.stderr())
        self.assertLess(time.monotonic() - started, 3.0)

    @staticmethod
    def poll(sqs, url):
        try:
            sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)
        except Exception:  # noqa: BLE001 — the connection dies with the server
            pass


if __name__ == "__main__":
    unittest.main()
