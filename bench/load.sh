#!/usr/bin/env bash
# Load test of the real binary on 127.0.0.1 (numbers, never pass/fail): durable run_task/s at
# 50 clients, get_run/s, health/s, accepted→succeeded latency of a no-op task, sustained no-op
# executions/s, and the server's RSS idle and under load. Needs wrk (Debian: apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "load.sh: wrk is missing (apt-get install -y wrk)"; exit 1; }
DURATION=${DURATION:-10s}
PORT=${PORT:-18080}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

# The binary `make build` ships (same tags and flags), copied so a rebuild mid-run changes nothing.
make -s build >/dev/null
cp bin/flyte-webhook "$work/flyte-webhook"
token=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
hash=$(printf %s "$token" | sha256sum | cut -d' ' -f1)
cat >"$work/config.yaml" <<YAML
port: $PORT
log_level: ${LOG_LEVEL:-warn}
backend:
  local:
    workspace: $PWD/examples/workspace.yaml
    data_dir: $work/data
    auth:
      tokens: [{sha256: $hash, subject: bench, name: Bench}]
YAML
start_server() { # a fresh data dir each time: the run_task phase leaves a large backlog
  rm -rf "$work/data"
  "$work/flyte-webhook" serve --config "$work/config.yaml" >>"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "load.sh: server did not start"; cat "$work/server.log"; exit 1
}
stop_server() { kill "$pid"; wait "$pid" 2>/dev/null || true; }
rss() { awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/$pid/status; }
hwm() { awk '/VmHWM/ {printf "%.1f", $2/1024}' /proc/$pid/status; }
export TOKEN=$token

start_server
sleep 1
echo "RESULT idle_rss_mb=$(rss)"
echo "== run_task (durable: on disk before the 200), 50 clients, $DURATION"
METHOD=POST BODY={} TARGET=/run-task/development/examples/noop wrk -t2 -c50 -d"$DURATION" --latency -s bench/wrk.lua "http://127.0.0.1:$PORT" | grep RESULT
echo "RESULT rss_after_run_task_mb=$(rss) peak_rss_mb=$(hwm)"
stop_server

start_server
name=$(curl -fsS -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d '{}' \
  "http://127.0.0.1:$PORT/run-task/development/examples/noop" | sed -E 's/.*"name":"([^"]+)".*/\1/')
echo "== get_run, 50 clients, $DURATION"
TARGET=/run/$name wrk -t2 -c50 -d"$DURATION" --latency -s bench/wrk.lua "http://127.0.0.1:$PORT" | grep RESULT
echo "== health, 50 clients, $DURATION"
TARGET=/health wrk -t2 -c50 -d"$DURATION" --latency -s bench/wrk.lua "http://127.0.0.1:$PORT" | grep RESULT
stop_server
# The yardstick: the same wrk against a server that does nothing but answer a fixed body of
# the same size (bench/ceiling), with bare net/http and with a bare gin route. wrk and the
# server share this machine's cores, so this is the most any server can do here.
CGO_ENABLED=0 go build -tags nomsgpack -o "$work/ceiling" ./bench/ceiling
for kind in nethttp gin; do
  flag=; [ $kind = gin ] && flag=-gin
  "$work/ceiling" -addr "127.0.0.1:$PORT" $flag >>"$work/server.log" 2>&1 &
  cpid=$!
  for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$PORT/run/x" >/dev/null 2>&1 && break; sleep 0.1; done
  echo "== ceiling ($kind: a fixed body, no work), 50 clients, $DURATION"
  TARGET=/run/x wrk -t2 -c50 -d"$DURATION" --latency -s bench/wrk.lua "http://127.0.0.1:$PORT" | grep RESULT
  kill $cpid; wait $cpid 2>/dev/null || true
done
start_server
echo "== executions"
go run ./bench/loadcheck -url "http://127.0.0.1:$PORT" -token "$token" -task development/examples/noop -n "${RUNS:-1000}"
echo "RESULT final_rss_mb=$(rss) peak_rss_mb=$(hwm)"
