#!/usr/bin/env bash
# Reminder load (BENCHMARKS.md): USERS (default 5000) due in one hour, through the real
# scheduler and worker binaries on the local stack. Starts and stops its own stack.
set -euo pipefail
cd "$(dirname "$0")/.."
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cargo build --workspace --bins --quiet
cargo build -p rota-tests --example reminders_load --quiet
scripts/ensure-redis.sh
run_dir=".local/load-$(date +%s)"; mkdir -p "$run_dir/logs"
moto_port=$(free_port); gateway_port=$(free_port)
target/debug/rota-local serve --no-schedules --port "$gateway_port" --moto-port "$moto_port" \
  --bin-dir target/debug --logs "$run_dir/logs" >"$run_dir/stdout" 2>"$run_dir/stderr" &
pid=$!; trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for _ in $(seq 300); do grep -q "serving on" "$run_dir/stdout" 2>/dev/null && break; sleep 0.2; done
export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1
export TABLE_NAME=RotaTable
before=$(grep -c '"POST / HTTP' "$run_dir/logs/moto.log" || true)
target/debug/examples/reminders_load
after=$(grep -c '"POST / HTTP' "$run_dir/logs/moto.log" || true)
echo "emulator requests during the run (DynamoDB + SQS, incl. seeding and checks): $((after - before))"
python3 -c '
import json,sys
t={"Invocations":0}
for l in open(sys.argv[1]):
    try:
        d=json.loads(l)
    except ValueError:
        continue
    if d.get("message") in ("job finished","job failed"):
        t["Invocations"]+=1
    for k in ("RemindersDelivered","ReminderDuplicatesSkipped","RemindersSkipped","ReminderFailures"):
        t[k]=t.get(k,0)+d.get(k,0)
print("worker metrics:", t)' "$run_dir"/logs/reminders-worker.log
