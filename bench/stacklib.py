"""What the bench scripts that drive a local stack over HTTP share: free ports, one call,
a process's CPU time, and the member, post and request mix they measure with."""

import json
import os
import socket
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, token=None, body=None):
    """One request: (status, body bytes, seconds)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            payload, status = response.read(), response.status
    except urllib.error.HTTPError as e:
        payload, status = e.read(), e.code
    return status, payload, time.perf_counter() - started


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def member_mix(base):
    """A new member with a post: their token and the measured mix (profile, feed page, like,
    unlike), each request of which answers 200."""
    status, payload, _ = call(base, "POST", "/api/auth/register", body={
        "email": f"bench-{time.time_ns()}@example.com", "password": "correct horse", "display_name": "Bench"})
    assert status == 201, payload
    token = json.loads(payload)["access_token"]
    status, payload, _ = call(base, "POST", "/api/community/posts", token,
                              {"title": "Bench", "content": "A post to like."})
    assert status == 201, payload
    post = json.loads(payload)["id"]
    plan = [("GET", "/api/users/me"), ("GET", "/api/community/posts?limit=10"),
            ("POST", f"/api/community/posts/{post}/like"), ("DELETE", f"/api/community/posts/{post}/like")]
    return token, plan
