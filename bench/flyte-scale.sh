#!/usr/bin/env bash
# Scale-out of the flyte backend by simulation (numbers, never pass/fail, except that K
# concurrent requests with one Idempotency-Key over the replicas must get one run): REPLICAS
# real webhook binaries on loopback ports in front of one in-test Flyte 2 control plane that
# adds DELAY to every call, CLIENTS concurrent clients per replica sending run_task to the
# replicas round-robin, beside the same CreateRun sent to the control plane directly with as
# many clients. ROUNDS times, for ranges: the machine is shared. bench/README.md has results.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
REPLICAS=${REPLICAS:-1,2,4}
CLIENTS=${CLIENTS:-4}
DELAY=${DELAY:-5ms}
DURATION=${DURATION:-5s}
KEYS=${KEYS:-16}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The binary `make build` ships (same tags and flags), copied so a rebuild mid-run changes nothing.
make -s build >/dev/null
cp bin/flyte-webhook "$work/flyte-webhook"
CGO_ENABLED=0 go build -tags nomsgpack -o "$work/scale" ./bench/flyte/scale
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
for r in $(seq "$ROUNDS"); do
  echo "== round $r of $ROUNDS"
  "$work/scale" -binary "$work/flyte-webhook" -replicas "$REPLICAS" -clients "$CLIENTS" \
    -delay "$DELAY" -duration "$DURATION" -keys "$KEYS"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
