#!/usr/bin/env bash
# The cache stand-in is the real Redis on 127.0.0.1:6379 (ElastiCache speaks the same protocol).
# It is already running on the project's machines; start it if it is not.
set -euo pipefail
if command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  exit 0
fi
if ! command -v redis-server >/dev/null; then
  echo "redis-server is not installed (apt-get install redis-server)" >&2
  exit 1
fi
redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no
for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && exit 0; sleep 0.1; done
echo "redis did not start" >&2
exit 1
