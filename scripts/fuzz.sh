#!/usr/bin/env bash
# Fuzzes every operation of /openapi.json with schemathesis against a local stack on loopback and
# fails on any 5xx or response that does not match its schema (SPEC section 9). Bounded: a fixed
# number of examples per operation. With the API key, scripts/fuzz_hooks.py signs the DID-signed
# operations and puts real ids (made through the API first) into their cases part of the time;
# the end prints how many cases of each signed operation got a 2xx.
#   scripts/fuzz.sh [max-examples]   (default 25)
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-25}
# schemathesis from exact pins, in a virtual environment of the tools cache (never the machine's).
reqs=scripts/fuzz-requirements.txt
venv="${AINP_TOOLS_CACHE:-$HOME/.cache/ainp-tools}/schemathesis-$(sha256sum "$reqs" | cut -c1-16)"
if [ ! -x "$venv/bin/schemathesis" ]; then
  rm -rf "$venv" && python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check --only-binary=:all: -r "$reqs"
fi
schemathesis="$venv/bin/schemathesis"
# Under .test-data, so the leftover check at the end of CI sees anything this left running.
mkdir -p .test-data && dir=$(mktemp -d "$PWD/.test-data/$(basename "$0" .sh)-XXXXXX"); chmod 755 "$dir"
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
export DATA_DIR="$dir/data" PORT=$port LOG_LEVEL=warn
# Limits high enough that the fuzzer tests the handlers, not the rate limiter.
export RATE_LIMIT_GET=1000000 RATE_LIMIT_SEARCH=1000000 RATE_LIMIT_REGISTER=1000000 RATE_LIMIT_FEEDBACK=1000000 \
  RATE_LIMIT_SIGNED_WRITE=1000000 RATE_LIMIT_API_READ=1000000 RATE_LIMIT_FINALIZE=1000000 RATE_LIMIT_ADMIN=1000000 \
  RATE_LIMIT_WRITE=1000000 RATE_LIMIT_LINK_PAYMENT=1000000 RATE_LIMIT_IP_WRITE=1000000 RATE_LIMIT_AUTH_FAILURE=1000000 \
  RATE_LIMIT_WS_CONNECT=1000000 RATE_LIMIT_PROBE=1000000
node --import tsx app/main.ts local >"$dir/broker.log" 2>&1 &
broker=$!
trap 'kill -INT $broker 2>/dev/null; wait $broker 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.3; done
admin=$(cat "$DATA_DIR/admin-token")
key=$(curl -sf -X POST "http://127.0.0.1:$port/api/admin/api-keys" -H "Authorization: Bearer $admin" \
  -H 'Content-Type: application/json' -d '{"name":"fuzz","address":"0x00000000000000000000000000000000000000f1"}' |
  node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>console.log(JSON.parse(s).key))')
# Funded DIDs, agents, intents, negotiations in each state, receipts and stakes, for real ids.
"$venv/bin/python" scripts/fuzz_hooks.py fixtures "http://127.0.0.1:$port" "$admin" "$key" "$dir/fixtures.json"
status=0
for who in api-key admin; do
  token=$key; [ "$who" = admin ] && token=$admin
  # The signing hooks go with the API key (the admin token is no API key: /api answers it 401).
  if [ "$who" = api-key ]; then
    export SCHEMATHESIS_HOOKS="$PWD/scripts/fuzz_hooks.py" AINP_FUZZ_FIXTURES="$dir/fixtures.json" \
      AINP_FUZZ_COUNTS="$dir/signed.tsv"
  else
    unset AINP_FUZZ_FIXTURES AINP_FUZZ_COUNTS
    export SCHEMATHESIS_HOOKS="$PWD/scripts/fuzz_patch.py"
  fi
  # The full report goes to a file (printed on failure): its closing banner imitates pytest's.
  log="$dir/schemathesis-$who.log"
  # One worker: with two, CPython 3.11's ast module can fail inside hypothesis with "SystemError:
  # AST constructor recursion depth mismatch" (CPython gh-106905, a thread-safety bug in ast).
  if "$schemathesis" run "http://127.0.0.1:$port/openapi.json" --url "http://127.0.0.1:$port" \
    -H "Authorization: Bearer $token" --checks not_a_server_error,response_schema_conformance \
    --max-examples "$examples" --workers 1 --no-color >"$log" 2>&1; then
    echo "fuzz ($who): $(grep -oE '[0-9]+ generated, [0-9]+ passed' "$log" | tail -1 | sed 's/ generated,/ cases,/'), no 5xx, no schema mismatch"
  else
    status=1
    cat "$log"
  fi
done
# Counted by the after_call hook. A signature the broker refused (the hook signed other bytes than
# it sent) fails the run, and so does a run where no signed case got a 2xx.
"$venv/bin/python" scripts/fuzz_hooks.py summary "$dir/signed.tsv" || status=1
if grep -q '"level":50' "$dir/broker.log"; then echo "broker logged errors:"; grep '"level":50' "$dir/broker.log" | head -5; status=1; fi
echo "fuzz: ${SECONDS}s"
exit $status
