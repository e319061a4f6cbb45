#!/usr/bin/env bash
# CPU per request of proxies relaying large response bodies, taken in turns (issue 20's 64 KiB
# target: ringway's CPU per request ≤ nginx's):
#
#   bench/bodies.sh [ROUNDS] [VARIANT...]
#
# A VARIANT is `haproxy`, `haproxy-splice` (with `option splice-auto`), `nginx`, or
# `NAME=BIN_DIR[:SPLICE]`: the ringway binary in BIN_DIR, with `splice = "SPLICE"` in its
# backend when given (e.g. `before=/tmp/base/target/release after=target/release:auto`).
# Default: `ringway=target/release haproxy nginx`. Each round runs every variant once, in
# order (1 proxy thread pinned to the last CPU, `http_reuse` MODE, 50 keep-alive clients,
# origin answering BODY bytes, origin and load generator on CPU 0, DURATION each after a 1 s
# warm-up; RATE=N: an open loop at N requests/s, the same work for every proxy), and prints
# req/s and the proxy's µs of CPU per request: utime + stime over the run (/proc) and, with
# perf, task-clock (the same time, to the nanosecond). Ends with the medians.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh
trap 'cleanup; rm -rf "$WORK"' EXIT

ROUNDS=${1:-5}
shift || true
VARIANTS=("$@")
[ ${#VARIANTS[@]} -gt 0 ] || VARIANTS=(ringway=target/release haproxy nginx)
BODY=${BODY:-65536}
MODE=${MODE:-safe}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-50}
LOAD=${LOAD:-target/release}
NCPU=$(nproc)
PROXY_CPU=$((NCPU - 1))
PORT_BASE=${PORT_BASE:-28300}
PROXY=$PORT_BASE ORIGIN=$((PORT_BASE + 1))
TICK=$(getconf CLK_TCK)
WORK=$(mktemp -d /tmp/ringway-bodies.XXXXXX)
PERF=$(command -v perf || true)

for p in "$PROXY" "$ORIGIN"; do port_free "$p" || exit 2; done
start "$WORK/origin.log" taskset -c 0 "$LOAD/ringway-load" origin --listen "127.0.0.1:$ORIGIN" \
    --threads 1 --body-size "$BODY" --spin-rounds 2
wait_port "$ORIGIN"

# launch <variant>: starts the proxy, sets PROXY_PIDS
launch() {
    local name=${1%%=*} spec=${1#*=} conf
    case $name in
        haproxy | haproxy-splice)
            conf=$(haproxy_config "$WORK" "$PROXY" "$ORIGIN" "$MODE" 1 "$PROXY_CPU")
            # maxpipes: HAProxy's default (maxconn / 4) needs more descriptors than ulimit -n.
            [ "$name" = haproxy ] || sed -i -e 's/^backend app$/backend app\n    option splice-auto/' \
                -e 's/^global$/global\n    maxpipes 512/' "$conf"
            start "$WORK/proxy.log" taskset -c "$PROXY_CPU" haproxy -db -f "$conf" ;;
        nginx)
            conf=$(nginx_proxy_config "$WORK" "$PROXY" "$ORIGIN" 1 "$(nginx_masks "$PROXY_CPU")")
            start "$WORK/proxy.log" taskset -c "$PROXY_CPU" nginx -e "$WORK/nginx-error.log" -c "$conf" ;;
        *)
            conf=$(ringway_config "$WORK" "$PROXY" "$ORIGIN" "$MODE" 1)
            sed -i 's/^pin_shards = true/pin_shards = false/' "$conf"
            case $spec in *:*) sed -i "s/^http_reuse = .*/&\nsplice = \"${spec##*:}\"/" "$conf" ;; esac
            start "$WORK/proxy.log" taskset -c "$PROXY_CPU" "${spec%%:*}/ringway" run -c "$conf" ;;
    esac
    wait_port "$PROXY"
    sleep 0.2
    read -ra PROXY_PIDS <<<"$(process_tree "$LAST_PID")"
    MAIN_PID=$LAST_PID
}

load() { # <duration> [json]
    taskset -c 0 "$LOAD/ringway-load" run --url "http://127.0.0.1:$PROXY/" --threads 1 \
        --connections "$CONNECTIONS" --duration "$1" --quiet --spin-rounds 2 \
        ${RATE:+--rate "$RATE"} ${2:+--json "$2"} >/dev/null
}

# run <variant>: prints "req/s us_per_req [perf_us_per_req]"
run() {
    launch "$1"
    load 1s
    local before after perf_ms=0
    before=$(cpu_ticks "${PROXY_PIDS[@]}")
    if [ -n "$PERF" ]; then
        load "$DURATION" "$WORK/run.json" &
        local loader=$!
        perf stat -x, -e task-clock -o "$WORK/perf.csv" \
            -p "$(echo "${PROXY_PIDS[@]}" | tr ' ' ,)" -- sleep "${DURATION%s}" >/dev/null 2>&1 || true
        wait "$loader"
        perf_ms=$(awk -F, '$3 == "task-clock" {print $1}' "$WORK/perf.csv")
    else
        load "$DURATION" "$WORK/run.json"
    fi
    after=$(cpu_ticks "${PROXY_PIDS[@]}")
    stop_pid "$MAIN_PID"
    python3 - "$WORK/run.json" "$((after - before))" "$TICK" "${perf_ms:-0}" "${DURATION%s}" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
requests = report["requests"]
secs = report["elapsed_secs"] if "elapsed_secs" in report else report["duration_secs"]
rps = requests / secs
proc = int(sys.argv[2]) / int(sys.argv[3]) * 1e6 / requests
# perf counted over DURATION seconds of the run: divided by the requests of that time
perf = float(sys.argv[4]) * 1e3 / (rps * float(sys.argv[5])) if float(sys.argv[4]) else 0
errors = sum(report.get("errors", {}).values()) if isinstance(report.get("errors"), dict) else 0
print(f"{rps:.0f} {proc:.2f} {perf:.2f} {errors}")
PY
}

declare -A PROC PERFV
for ((round = 1; round <= ROUNDS; round++)); do
    line="round $round:"
    for variant in "${VARIANTS[@]}"; do
        name=${variant%%=*}
        read -r rps us perf errors <<<"$(run "$variant")"
        PROC[$name]+="$us "
        PERFV[$name]+="$perf "
        line+=" | $name $rps req/s $us us/req (perf $perf)"
        [ "$errors" = 0 ] || line+=" ERRORS $errors"
    done
    echo "$line"
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
echo "medians, body $BODY B, $ROUNDS rounds, $(date -u +%H:%MZ):"
for variant in "${VARIANTS[@]}"; do
    name=${variant%%=*}
    # shellcheck disable=SC2086
    echo "  $name: $(median ${PROC[$name]}) us/req (/proc), $(median ${PERFV[$name]}) (perf task-clock)"
done
