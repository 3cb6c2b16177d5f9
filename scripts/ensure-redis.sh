#!/usr/bin/env bash
# Every stack (`make run`, `make test`, the test harness's) starts its own cache: a Redis cluster
# of three primaries over TLS, as ElastiCache Serverless runs it (rota-local's cache_cluster).
# That needs redis-server 7 or newer built with TLS (Debian's is); this checks it is there.
set -euo pipefail
if ! command -v redis-server >/dev/null; then
  echo "redis-server is not installed (apt-get install redis-server: 7 or newer, with TLS)" >&2
  exit 1
fi
version=$(redis-server --version | sed -n 's/.* v=\([0-9]*\)\..*/\1/p')
if [ -z "$version" ] || [ "$version" -lt 7 ]; then
  echo "redis-server $(redis-server --version) is too old: the cache cluster needs 7 or newer" >&2
  exit 1
fi
