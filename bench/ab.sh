#!/usr/bin/env bash
# Keep-alive CPU per request of two ringway builds, taken in turns (the check "features must not
# slow the fast path" asks for before and after any change to the request path):
#
#   bench/ab.sh BASE_BIN_DIR NEW_BIN_DIR [ROUNDS] [MODE]
#
# Each round runs both builds (1 shard pinned to the last CPU, `http_reuse` MODE, default safe)
# under 50 keep-alive clients for DURATION (5s) at full speed, the origin and the load generator
# sharing CPU 0 (ringway-load from NEW_BIN_DIR for both), and prints req/s and the proxy's
# µs of CPU per request (utime + stime over the run). Ends with the median of each.
# SERVER_PROTO=h2: the origin speaks h2c and the server has `proto = "h2"` (the HTTP/2 server
# path); SHARDS (default 1) sets the proxy's shards (more than one: on every CPU).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh
trap cleanup EXIT

BASE=$1 NEW=$2 ROUNDS=${3:-5} MODE=${4:-safe}
DURATION=${DURATION:-5s}
NCPU=$(nproc)
PROXY_CPU=$((NCPU - 1))
WORK=$(mktemp -d)
ORIGIN=18591 PROXY=18592
TICK=$(getconf CLK_TCK)

SERVER_PROTO=${SERVER_PROTO:-h1} SHARDS=${SHARDS:-1}
[ "$SHARDS" -eq 1 ] || PROXY_CPU=0-$PROXY_CPU
H2_FLAG=()
[ "$SERVER_PROTO" = h1 ] || H2_FLAG=(--h2)
start "$WORK/origin.log" taskset -c 0 "$NEW/ringway-load" origin --listen 127.0.0.1:$ORIGIN --threads 1 "${H2_FLAG[@]}"
wait_port $ORIGIN
ringway_config "$WORK" $PROXY $ORIGIN "$MODE" "$SHARDS" >/dev/null
sed -i 's/^pin_shards = true/pin_shards = false/' "$WORK/ringway.toml"
[ "$SERVER_PROTO" = h1 ] || sed -i 's/^pool_low_conn = 0$/pool_low_conn = 0\nproto = "h2"/' "$WORK/ringway.toml"

# run <bin dir>: prints "req/s us_per_req"
run() {
    start "$WORK/proxy.log" taskset -c $PROXY_CPU "$1/ringway" run -c "$WORK/ringway.toml"
    local pid=$LAST_PID
    wait_port $PROXY
    taskset -c 0 "$NEW/ringway-load" run --url "http://127.0.0.1:$PROXY/" --threads 1 \
        --connections 50 --duration 1s --quiet >/dev/null
    local before after
    before=$(cpu_ticks "$pid")
    taskset -c 0 "$NEW/ringway-load" run --url "http://127.0.0.1:$PROXY/" --threads 1 \
        --connections 50 --duration "$DURATION" --quiet --json "$WORK/run.json" >/dev/null
    after=$(cpu_ticks "$pid")
    stop_pid "$pid"
    python3 - "$WORK/run.json" "$((after - before))" "$TICK" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
requests = report["requests"]
secs = report["elapsed_secs"] if "elapsed_secs" in report else report["duration_secs"]
print(f"{requests / secs:.0f} {int(sys.argv[2]) / int(sys.argv[3]) * 1e6 / requests:.2f}")
PY
}

base=() new=()
for ((round = 1; round <= ROUNDS; round++)); do
    b=$(run "$BASE")
    n=$(run "$NEW")
    echo "round $round: base ${b% *} req/s ${b#* } us/req | new ${n% *} req/s ${n#* } us/req"
    base+=("${b#* }")
    new+=("${n#* }")
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
echo "median us/req: base $(median "${base[@]}") new $(median "${new[@]}")"
