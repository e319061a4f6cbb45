#!/usr/bin/env bash
# Server connection churn, ringway beside HAProxy 2.6 on the same load (issue 18): 2 shards /
# `nbthread 2`, `http_reuse always`, one origin; 50 keep-alive clients for DURATION, then 50
# clients that close after every request for DURATION. For each proxy, one after the other:
# new server connections (`connect`) in each phase and after its first second, takeovers and
# ringway's close reasons.
#
#   bench/churn.sh [RINGWAY_BIN_DIR] [ROUNDS]     (default target/release, 1 round)
#
# RINGWAY_BIN_DIR holds `ringway` (the build under test); ringway-load comes from
# target/release. Writes nothing but its output.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh
trap cleanup EXIT

BIN=${1:-target/release}
ROUNDS=${2:-1}
DURATION=${DURATION:-5}
CLIENTS=${CLIENTS:-50}
LOAD=target/release/ringway-load
need_commands "haproxy:haproxy" "socat:socat" "curl:curl" "jq:jq"
WORK=$(mktemp -d)
ORIGIN=18601 PROXY=18602

start "$WORK/origin.log" "$LOAD" origin --listen 127.0.0.1:$ORIGIN --threads 1
wait_port $ORIGIN

# phase <label> <socket> [--close]: runs the load, sampling `connect` after its first second.
phase() {
    local label=$1 socket=$2
    shift 2
    local at0 at1 at_end
    at0=$(server_connects "$socket")
    "$LOAD" run --url "http://127.0.0.1:$PROXY/" --connections "$CLIENTS" \
        --duration "${DURATION}s" --quiet "$@" >/dev/null &
    local load=$!
    sleep 1
    at1=$(server_connects "$socket")
    wait $load
    at_end=$(server_connects "$socket")
    printf ' %s: connect %d (after 1s: %d)' "$label" $((at_end - at0)) $((at_end - at1))
}

for ((round = 1; round <= ROUNDS; round++)); do
    for proxy in ringway haproxy; do
        origin_reset $ORIGIN
        if [ $proxy = ringway ]; then
            ringway_config "$WORK" $PROXY $ORIGIN always 2 >/dev/null
            start "$WORK/ringway.log" "$BIN/ringway" run -c "$WORK/ringway.toml"
            socket=$WORK/ringway.sock
        else
            haproxy_config "$WORK" $PROXY $ORIGIN always 2 0-1 >/dev/null
            start "$WORK/haproxy.log" haproxy -db -f "$WORK/haproxy.cfg"
            socket=$WORK/haproxy.sock
        fi
        pid=$LAST_PID
        wait_port $PROXY
        line="round $round $proxy:"
        line+=$(phase keep-alive "$socket")
        line+=$(phase close "$socket" --close)
        if [ $proxy = ringway ]; then
            verbose=$(stats_cmd "$socket" "show servers conn verbose" | grep "^app/s1 ")
            line+=" takeover $(sed -n 's/.* takeover=\([0-9]*\).*/\1/p' <<<"$verbose")"
            line+=" not_needed $(sed -n 's/.*not_needed:\([0-9]*\).*/\1/p' <<<"$verbose")"
            line+=" purged $(sed -n 's/.*purged:\([0-9]*\).*/\1/p' <<<"$verbose")"
        else
            line+=" fd_takeover $(stats_cmd "$socket" "show activity" | sed -n 's/^fd_takeover: \([0-9]*\).*/\1/p')"
        fi
        line+=" origin $(origin_stats $ORIGIN | jq -r '"accepted \(.accepted) requests \(.requests)"')"
        echo "$line"
        stop_pid "$pid"
    done
done
