#!/usr/bin/env bash
# The gate against the local stack, as CI runs it (SPEC section 8, issue: a gate that cannot fail
# is not a gate):
#   1. the local stack (embedded PostgreSQL, Valkey, NATS) on a free loopback port;
#   2. `npm run gate` against it: smoke, then load at the SLO's target rate for LOAD_DURATION
#      (default 50s). It must pass.
#   3. the same gate through a proxy that delays every request by SLOW_DELAY_MS (default 80 ms,
#      above the 50 ms p95 SLO), with a short load: it must FAIL, on the latency threshold.
#   4. the gate against the proxy's port once the proxy is gone: setup must refuse it (k6 exit 108).
# Everything runs on 127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/tools.sh k6
duration=${LOAD_DURATION:-50s}
delay=${SLOW_DELAY_MS:-80}
# Under .test-data, so the leftover check at the end of CI sees anything this left running.
mkdir -p .test-data && dir=$(mktemp -d "$PWD/.test-data/$(basename "$0" .sh)-XXXXXX"); chmod 755 "$dir"
# PORT=0: the broker takes a free port itself and prints it. (A port picked here and released
# could be taken by the stack's own PostgreSQL, Valkey or NATS first: EADDRINUSE, seen once in CI.)
export DATA_DIR="$dir/data" PORT=0 LOG_LEVEL=warn
node --import tsx app/main.ts local >"$dir/broker.log" 2>&1 &
broker=$!
proxy=
cleanup() {
  [ -n "$proxy" ] && kill "$proxy" 2>/dev/null
  kill -INT $broker 2>/dev/null; wait $broker 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
port=
for _ in $(seq 1 200); do
  port=$(sed -n 's#^ *health *http://localhost:\([0-9]*\)/health.*#\1#p' "$dir/broker.log" | head -1)
  [ -n "$port" ] && break
  kill -0 $broker 2>/dev/null || break
  sleep 0.3
done
[ -n "$port" ] || { echo "the local stack did not start:"; tail -20 "$dir/broker.log"; exit 1; }
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.3; done
curl -sf "http://127.0.0.1:$port/health" | grep -q '"status":"healthy"' || {
  echo "the local stack is not healthy:"; curl -s "http://127.0.0.1:$port/health"; tail -20 "$dir/broker.log"; exit 1; }

# The system accounts (treasury, broker, validators, pool) as the admin API reads them.
system() { curl -sf -H "Authorization: Bearer $(cat "$DATA_DIR/admin-token")" "http://127.0.0.1:$port/api/admin/ledger/system"; }
fresh=$(system)

echo "== gate against the local stack (load ${duration})"
npm run --silent gate -- --target "http://127.0.0.1:$port" --admin-token-file "$DATA_DIR/admin-token" \
  --duration "$duration" --summary-dir "$dir"

echo "== prod's smoke (MONEY=none, as npm run promote runs it after prod's up) moves no money"
gated=$(system)
# The gate's paid flows moved fee shares: the comparison below sees a move when there is one.
if [ "$gated" = "$fresh" ]; then
  echo "FAILED: the gate's settlements moved no system account ($fresh): the check below could not fail"; exit 1
fi
mkdir -p "$dir/no-money"
ADMIN_TOKEN=$(cat "$DATA_DIR/admin-token") .tools/bin/k6 run --quiet --no-color -e TARGET="http://127.0.0.1:$port" \
  -e MONEY=none -e SUMMARY_DIR="$dir/no-money" loadtests/smoke.ts >"$dir/no-money.out" 2>&1 || {
  cat "$dir/no-money.out"; echo "FAILED: the smoke with MONEY=none did not pass"; exit 1; }
after=$(system)
if [ "$after" != "$gated" ]; then
  echo "FAILED: the smoke with MONEY=none moved the system accounts: before $gated, after $after"; exit 1
fi
echo "system accounts unchanged by it: $after"

echo "== gate against the same stack behind a ${delay} ms delaying proxy (must fail)"
node --import tsx scripts/slow-proxy.ts --target "http://127.0.0.1:$port" --delay-ms "$delay" --max-seconds 180 \
  >"$dir/proxy.out" 2>&1 &
proxy=$!
for _ in $(seq 1 50); do grep -q '^listening' "$dir/proxy.out" 2>/dev/null && break; sleep 0.2; done
slow_port=$(awk '/^listening/ {print $2}' "$dir/proxy.out")
status=0
npm run --silent gate -- --target "http://127.0.0.1:$slow_port" --admin-token-file "$DATA_DIR/admin-token" \
  --duration 15s --summary-dir "$dir/slow" >"$dir/slow-gate.out" 2>&1 || status=$?
cat "$dir/slow-gate.out"
if [ "$status" -eq 0 ]; then
  echo "FAILED: the gate passed a target slowed by ${delay} ms per request"; exit 1
fi
if ! grep -q 'threshold http_req_duration p(95)' "$dir/slow-gate.out"; then
  echo "FAILED: the slow gate failed, but not on the p95 latency threshold"; exit 1
fi
echo "== gate against a port where nothing listens (setup must refuse it)"
kill "$proxy" 2>/dev/null || true; wait "$proxy" 2>/dev/null || true; proxy=
status=0
npm run --silent gate -- --target "http://127.0.0.1:$slow_port" --admin-token unused --summary-dir "$dir/none" \
  >"$dir/none-gate.out" 2>&1 || status=$?
tail -3 "$dir/none-gate.out"
if [ "$status" -eq 0 ] || ! grep -q 'k6 exited 108' "$dir/none-gate.out"; then
  echo "FAILED: the gate did not refuse an unreachable target in setup"; exit 1
fi
echo "gate-local: the gate passed the local stack, failed the slowed one on p95 latency, refused a dead target"
