#!/usr/bin/env bash
# Pool safety against a hostile origin, ringway beside HAProxy 2.6 (issue 14): id-tagged requests
# through each proxy (`http-reuse always`, 2 shards / 2 threads) to `ringway-load hostile-origin`.
#   poison:     late bytes after a response, a body after HEAD, an overlong body: responses that
#               reached the wrong client, 502s;
#   idle-close: the origin closes idle keep-alive connections after 1-3 ms while the clients pause
#               up to 10 ms between requests: lost GETs, POST 502s, requests executed twice.
# Usage: bench/hostile.sh [REQUESTS] (default 10000). Writes bench/results/hostile.txt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh
trap cleanup EXIT

REQUESTS=${1:-10000}
need_commands "haproxy:haproxy" "socat:socat"
cargo build --release -q -p ringway -p ringway-load
BIN=target/release
WORK=$(mktemp -d)
OUT=bench/results/hostile.txt
ORIGIN=18581 RINGWAY=18582 HAPROXY=18583

# proxies <origin port>: (re)starts ringway and HAProxy in front of it.
proxies() {
    ringway_config "$WORK" $RINGWAY "$1" always 2 >/dev/null
    haproxy_config "$WORK" $HAPROXY "$1" always 2 0-1 >/dev/null
    start "$WORK/ringway.log" $BIN/ringway run -c "$WORK/ringway.toml"
    RINGWAY_PID=$LAST_PID
    start "$WORK/haproxy.log" haproxy -f "$WORK/haproxy.cfg"
    HAPROXY_PID=$LAST_PID
    wait_port $RINGWAY
    wait_port $HAPROXY
}

# origin [--idle-close D]: (re)starts the hostile origin.
origin() {
    start "$WORK/origin.log" $BIN/ringway-load hostile-origin --listen 127.0.0.1:$ORIGIN "$@"
    ORIGIN_PID=$LAST_PID
    wait_port $ORIGIN
}

executed_twice() {
    sleep 1.2 # the origin prints its counts once a second
    tail -n 1 "$WORK/origin.log" | sed -n 's/.*executed_twice \([0-9]*\).*/\1/p'
}

{
    echo "# bench/hostile.sh $(date -u +%Y-%m-%dT%H:%MZ), ringway $(git rev-parse --short HEAD), $(haproxy -v | head -1)"
    echo "# $REQUESTS requests per run, 8 client connections, http-reuse always, 2 shards / 2 threads"
    echo "# wrong: responses carrying another request's id; no_response: the client got nothing"
    origin
    proxies $ORIGIN
    for proxy in ringway:$RINGWAY haproxy:$HAPROXY ringway:$RINGWAY haproxy:$HAPROXY; do
        for kinds in ok,late ok,head ok,long ok,late,head,long; do
            result=$($BIN/ringway-load hostile-check --target 127.0.0.1:${proxy#*:} \
                --requests "$REQUESTS" --kinds $kinds --mix both)
            echo "poison ${proxy%%:*} kinds=$kinds: $result"
        done
    done
    stop_pid "$RINGWAY_PID"; stop_pid "$HAPROXY_PID"; stop_pid "$ORIGIN_PID"
    for proxy in ringway haproxy; do
        for mix in get post; do
            origin --idle-close 3ms
            proxies $ORIGIN
            port=$RINGWAY
            [ $proxy = haproxy ] && port=$HAPROXY
            result=$($BIN/ringway-load hostile-check --target 127.0.0.1:$port \
                --requests "$REQUESTS" --kinds ok --mix $mix --pause 10ms)
            echo "idle-close $proxy $mix: $result executed_twice $(executed_twice)"
            stop_pid "$RINGWAY_PID"; stop_pid "$HAPROXY_PID"; stop_pid "$ORIGIN_PID"
        done
    done
} | tee "$OUT"
