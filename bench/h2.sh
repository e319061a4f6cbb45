#!/usr/bin/env bash
# The seed-002 HTTP/2 table (issue 19): server connections and CPU per request of a proxy under
# HTTP/2 towards the server (h2c) and HTTP/1.1 towards it, for http-reuse safe / aggressive /
# always, with 50 clients that close after every request and 50 keep-alive clients.
#
#   bench/h2.sh                                   # ringway, HAProxy, nginx: 39 rows, about 5 min
#   PROXIES="ringway haproxy h2floor" CLIENT_KINDS=h2-ka bench/h2.sh   # and the h2 crate's floor
#   PROXIES=haproxy MODES=always DURATION=10 bench/h2.sh
#   PROXIES="ringway haproxy" RINGWAY_BIN=/path/to/ringway bench/h2.sh
#
# Pinning as bench/run.sh: the proxy (one thread / worker) on PROXY_CPU (default the last CPU),
# the origins and the load on LOAD_CPU (default 0). The origins are `ringway-load origin --h2`
# (h2c, prior knowledge) and `ringway-load origin` (HTTP/1.1), one thread each. Clients:
#   h1-close  ringway-load run --close: HTTP/1.1, a new client connection per request
#   h1-ka     ringway-load run: keep-alive HTTP/1.1
#   h2-ka     h2load (h2c prior knowledge), one stream at a time per connection (-m 1)
# HTTP/1.1 clients are ringway-load's, as in bench/run.sh: h2load 1.52 --h1 counts HAProxy's
# `HTTP/1.1 200 ` (empty reason phrase, as HAProxy writes it for an HTTP/2 server's response) as
# failed, and with -D and `Connection: close` it does not stop. h2load cannot close an HTTP/2
# connection after each request: there is no h2-close row (the seed's injector, hey, closed
# HTTP/1.1 connections).
#
# Columns: requests completed in DURATION seconds (2xx) and failed ones; new
# server connections (the origin's `accepted` over the row; the proxy is started for each row,
# so this includes the first connections); the most server connections open at once (the
# origin's `open_max`); CPU per request of the proxy's processes (utime + stime from
# /proc/PID/stat before and after, as bench/run.sh does). Every row starts from a new proxy and
# an origin with no connection open.
#
# nginx cannot speak HTTP/2 to a server and has no reuse modes: one row per client kind, its
# upstream HTTP/1.1 with `keepalive 64` (bench/lib.sh nginx_proxy_config), `listen ... http2`
# for the h2c clients (nginx 1.22 takes only HTTP/2 on such a port).
set -Eeuo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

PROXIES=${PROXIES:-ringway haproxy nginx}
MODES=${MODES:-safe aggressive always}
SERVERS=${SERVERS:-h2 h1}
CLIENT_KINDS=${CLIENT_KINDS:-h1-close h1-ka h2-ka}
CLIENTS=${CLIENTS:-50}
H2_STREAMS=${H2_STREAMS:-1} # h2load -m: streams at once per h2-ka client
DURATION=${DURATION:-5}
NCPU=$(nproc)
LOAD_CPU=${LOAD_CPU:-0}
PROXY_CPU=${PROXY_CPU:-$((NCPU - 1))}
LOAD_SPIN=${LOAD_SPIN:-2}
PORT_BASE=${PORT_BASE:-28100}
PROXY_PORT=$PORT_BASE
H1_ORIGIN=$((PORT_BASE + 1))
H2_ORIGIN=$((PORT_BASE + 2))
BIN=${BIN:-$ROOT/target/release}
RINGWAY_BIN=${RINGWAY_BIN:-$BIN/ringway}
HZ=$(getconf CLK_TCK)

WORK=$(mktemp -d /tmp/ringway-h2bench.XXXXXX)
trap 'cleanup; [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
trap 'KEEP_WORK=1; echo "bench/h2.sh failed at line $LINENO ($BASH_COMMAND); logs in $WORK" >&2' ERR

need_commands haproxy:haproxy nginx:nginx-light h2load:nghttp2-client jq:jq curl:curl \
    taskset:util-linux
ulimit -n "$(ulimit -H -n)"
ulimit -l unlimited 2>/dev/null || ulimit -l "$(ulimit -H -l)" 2>/dev/null || true
for port in "$PROXY_PORT" "$H1_ORIGIN" "$H2_ORIGIN"; do port_free "$port"; done
if [ -z "${NO_BUILD:-}" ]; then
    log "building ringway and ringway-load (release)"
    (cd "$ROOT" && cargo build --release -q -p ringway -p ringway-load)
fi

# ---------------------------------------------------------------- origins

start "$WORK/origin-h1.log" taskset -c "$LOAD_CPU" "$BIN/ringway-load" origin \
    --listen "127.0.0.1:$H1_ORIGIN" --threads 1 --spin-rounds "$LOAD_SPIN"
start "$WORK/origin-h2.log" taskset -c "$LOAD_CPU" "$BIN/ringway-load" origin --h2 \
    --listen "127.0.0.1:$H2_ORIGIN" --threads 1 --spin-rounds "$LOAD_SPIN"
wait_port "$H1_ORIGIN"
wait_port "$H2_ORIGIN"

# The port of the origin speaking <h1 | h2>, and curl's options for it.
origin_port() { if [ "$1" = h2 ]; then echo "$H2_ORIGIN"; else echo "$H1_ORIGIN"; fi; }
origin_curl() { # <h1 | h2> <path>
    local opt=()
    [ "$1" = h1 ] || opt=(--http2-prior-knowledge)
    curl -sS "${opt[@]}" "http://127.0.0.1:$(origin_port "$1")$2"
}

# Waits (10 s at most) until the origin has no connection open but the one asking (`open`
# counts it; `open_max` counts only connections that served a request), then zeroes its counters.
origin_fresh() { # <h1 | h2>
    local i
    for ((i = 0; i < 200; i++)); do
        [ "$(origin_curl "$1" /__origin/stats | jq .open)" -le 1 ] && break
        sleep 0.05
    done
    origin_curl "$1" /__origin/reset >/dev/null
}

# ---------------------------------------------------------------- proxies
#
# Each <proxy>_start <server proto> <mode> <client kind> starts the proxy on PROXY_PORT towards
# the origin of that protocol, pinned to PROXY_CPU, and sets PROXY_MAIN and PROXY_PIDS (the
# processes whose CPU is counted). A proxy that cannot do a combination returns 1 and the row
# is left out.

PROXY_MAIN='' PROXY_PIDS=()

# Starts a proxy command and waits for its port: proxy_exec <name> <command>...
proxy_exec() {
    local name=$1
    shift
    start "$WORK/$name.log" taskset -c "$PROXY_CPU" "$@"
    PROXY_MAIN=$LAST_PID
    wait_port "$PROXY_PORT"
    read -ra PROXY_PIDS <<<"$(process_tree "$PROXY_MAIN")"
}

haproxy_start() {
    local cfg
    cfg=$(haproxy_config "$WORK" "$PROXY_PORT" "$(origin_port "$1")" "$2" 1 "$PROXY_CPU")
    # HAProxy takes HTTP/2 prior knowledge and HTTP/1.1 on the same clear-text bind.
    [ "$1" = h1 ] || sed -i 's/^\(    server s1 .*\)$/\1 proto h2/' "$cfg"
    proxy_exec haproxy haproxy -db -f "$cfg"
}

nginx_start() {
    [ "$1" = h1 ] || return 1 # no HTTP/2 to servers
    [ "$2" = "${MODES%% *}" ] || return 1 # no reuse modes: one row
    local cfg
    cfg=$(nginx_proxy_config "$WORK" "$PROXY_PORT" "$H1_ORIGIN" 1 "$(nginx_masks "$PROXY_CPU")")
    [ "$3" != h2-ka ] || sed -i 's/^\(\s*listen .*\) reuseport/\1 http2 reuseport/' "$cfg"
    proxy_exec nginx nginx -e "$WORK/nginx-proxy-error.log" -c "$cfg"
    local i
    for ((i = 0; i < 100; i++)); do
        [ "$(pgrep -c -P "$PROXY_MAIN")" -ge 1 ] && break
        sleep 0.05
    done
    read -ra PROXY_PIDS <<<"$(process_tree "$PROXY_MAIN")"
}

# The floor under any proxy built on the h2 crate: `ringway-load origin --h2` itself (h2 on a
# glommio shard over ringway-net, answering at once), pinned where a proxy would be, with the
# h2-ka clients straight on it. One row (PROXIES="... h2floor"), server and mode columns unused.
h2floor_start() {
    [ "$3" = h2-ka ] && [ "$1" = "${SERVERS%% *}" ] && [ "$2" = "${MODES%% *}" ] || return 1
    proxy_exec h2floor "$BIN/ringway-load" origin --h2 --listen "127.0.0.1:$PROXY_PORT" \
        --threads 1 --spin-rounds "$LOAD_SPIN"
}

# ---- ringway rows ---------------------------------------------------------------------------
# ringway_row_config <server proto> <mode>: bench/lib.sh's ringway_config (one shard) with
# `proto = "h2"` on the server for h2c servers. The h2c frontend needs no key: the preface is
# detected on the clear-text bind, beside HTTP/1.1. RINGWAY_BIN picks the build under test.
ringway_row_config() {
    local cfg
    cfg=$(ringway_config "$WORK" "$PROXY_PORT" "$(origin_port "$1")" "$2" 1)
    [ "$1" = h1 ] || sed -i 's/^\(address = "127\.0\.0\.1:[0-9]*"\)$/\1\nproto = "h2"/' "$cfg"
    echo "$cfg"
}

ringway_start() {
    proxy_exec ringway "$RINGWAY_BIN" run -c "$(ringway_row_config "$1" "$2")"
}
# --------------------------------------------------------------------------------------------

proxy_stop() { stop_pid "$PROXY_MAIN"; PROXY_MAIN='' PROXY_PIDS=(); }

# ---------------------------------------------------------------- rows

# Runs the clients of <kind> against the proxy for DURATION; prints "<succeeded> <failed>".
load() { # <client kind>
    local out
    if [ "$1" = h2-ka ]; then
        out=$(taskset -c "$LOAD_CPU" h2load -t 1 -c "$CLIENTS" -m "$H2_STREAMS" -D "$DURATION" \
            "http://127.0.0.1:$PROXY_PORT/" 2>&1) || true
        sed -n 's/^requests: .* \([0-9]*\) succeeded, \([0-9]*\) failed.*/\1 \2/p' <<<"$out"
    else
        taskset -c "$LOAD_CPU" "$BIN/ringway-load" run --url "http://127.0.0.1:$PROXY_PORT/" \
            --threads 1 --connections "$CLIENTS" --duration "${DURATION}s" --quiet \
            --spin-rounds "$LOAD_SPIN" --json "$WORK/load.json" \
            $([ "$1" = h1-close ] && echo --close) >/dev/null
        jq -r '"\(.requests) \(.errors_total)"' "$WORK/load.json"
    fi
}

echo "| proxy | server | http-reuse | clients | requests | failed | req/s | new server conns | max server conns | µs CPU / request |"
echo "|---|---|---|---|---|---|---|---|---|---|"

row() { # <proxy> <server proto> <mode> <client kind>
    local proxy=$1 server=$2 mode=$3 kind=$4 p0 p1 ok failed stats
    origin_fresh "$server"
    "${proxy}_start" "$server" "$mode" "$kind" || return 0
    p0=$(cpu_ticks "${PROXY_PIDS[@]}")
    read -r ok failed <<<"$(load "$kind")"
    p1=$(cpu_ticks "${PROXY_PIDS[@]}")
    stats=$(origin_curl "$server" /__origin/stats | jq -c "{accepted, open_max, requests}")
    proxy_stop
    # accepted counts the connection of the stats request itself: one less.
    # shellcheck disable=SC2016 # jq's variables
    jq -rn --argjson ok "${ok:-0}" --arg failed "${failed:-?}" --argjson o "$stats" \
        --argjson ticks $((p1 - p0)) --argjson hz "$HZ" --argjson secs "$DURATION" \
        --arg proxy "$proxy" --arg server "$server" --arg mode "$mode" --arg kind "$kind" '
        "| \($proxy) | \($server) | \(if $proxy == "nginx" then "(keepalive 64)" else $mode end) | \($kind) | \($ok) | \($failed) | \($ok / $secs | floor) | \($o.accepted - 1) | \($o.open_max) | \(if $ok > 0 then ($ticks / $hz * 1e6 / $ok * 100 | round / 100) else "-" end) |"' |
        tee -a "$WORK/rows.md"
}

# ringway's CPU per request over HAProxy's, row by row (issue 19's target for h2-ka clients:
# at most 0.75), and over the h2 crate's floor where there is one.
ratios() {
    echo
    echo "| server | http-reuse | clients | ringway µs | HAProxy µs | ringway ÷ HAProxy | h2 floor µs | floor ÷ HAProxy |"
    echo "|---|---|---|---|---|---|---|---|"
    awk -F' *\\| *' '
        { cpu[$2, $3, $4, $5] = $11 }
        $2 == "h2floor" { floor = $11 }
        END {
            for (key in cpu) {
                split(key, k, SUBSEP)
                if (k[1] != "ringway") continue
                h = cpu["haproxy", k[2], k[3], k[4]]
                if (h == "" || h == "-" || cpu[key] == "-") continue
                f = (k[4] == "h2-ka" && floor != "") ? floor : "-"
                printf "| %s | %s | %s | %s | %s | %.2f | %s | %s |\n", k[2], k[3], k[4], cpu[key], h,
                    cpu[key] / h, f, (f == "-" ? "-" : sprintf("%.2f", f / h))
            }
        }' "$WORK/rows.md" | sort
}

for proxy in $PROXIES; do
    for server in $SERVERS; do
        for mode in $MODES; do
            for kind in $CLIENT_KINDS; do
                row "$proxy" "$server" "$mode" "$kind"
            done
        done
    done
done
[ ! -s "$WORK/rows.md" ] || ratios
