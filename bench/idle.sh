#!/usr/bin/env bash
# Idle keep-alive client connections (issue 20): what each costs in memory and in CPU while
# idle, and what they do to the CPU per request of 50 busy clients beside them, for ringway,
# HAProxy 2.6 and nginx, one shard / thread / worker each on CPU 1.
#
#   bench/idle.sh                       # COUNTS=9000 PROXIES="ringway haproxy nginx"
#   COUNTS="10000 50000" bench/idle.sh  # where the open-file limit allows (below)
#
# Per proxy and count: the proxy's RSS before and after COUNT clients each made one keep-alive
# request and went idle (bench/tools/idle_clients.py, on CPU 0), per connection; its CPU over
# IDLE_SECONDS while they stay idle (ms per second); then the CPU per request of 50 keep-alive
# clients (ringway-load run, BUSY_SECONDS) with the idle ones still open, against the same
# load without them. Each proxy needs a descriptor per idle client (HAProxy reserves two per
# `maxconn`): the open-file limit is raised to the hard limit, and a count that does not fit
# it is refused. Containers often cap the hard limit at 20 000, which leaves 50 000 out.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=bench/lib.sh
. "$BENCH_DIR/lib.sh"
COUNTS=${COUNTS:-9000}
PROXIES=${PROXIES:-"ringway haproxy nginx"}
IDLE_SECONDS=${IDLE_SECONDS:-10}
BUSY_SECONDS=${BUSY_SECONDS:-8}
PORT_BASE=${PORT_BASE:-29100}
BIN=${BIN:-$ROOT/target/release}
WORK=$(mktemp -d /tmp/ringway-idle.XXXXXX)
trap 'cleanup; rm -rf "$WORK"' EXIT

ulimit -n "$(ulimit -Hn)"
fd_limit=$(ulimit -n)
for count in $COUNTS; do
    if [ "$count" -gt $(((fd_limit - 200) / 2)) ]; then
        echo "$count idle connections do not fit the open-file limit ($fd_limit): HAProxy needs" \
            "two descriptors per connection it may take" >&2
        exit 2
    fi
done
need_commands "haproxy:haproxy" "nginx:nginx-light" "python3:python3"
[ -n "${NO_BUILD:-}" ] || (cd "$ROOT" && cargo build --release -q)
tick_hz=$(getconf CLK_TCK)
origin_port=$PORT_BASE proxy_port=$((PORT_BASE + 1))

start "$WORK/origin.log" taskset -c 0 "$BIN/ringway-load" origin --listen "127.0.0.1:$origin_port" \
    --body-size 10 --threads 1
wait_port "$origin_port"

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

proxy_up() { # <proxy>: starts it on CPU 1; sets PROXY_PID (the process serving)
    case $1 in
    ringway)
        local file
        file=$(ringway_config "$WORK" "$proxy_port" "$origin_port" always 1)
        sed -i 's/^max_conn = .*/max_conn = 120000/; s/^pin_shards = .*/pin_shards = false/;
            s/^timeout_http_keep_alive = .*/timeout_http_keep_alive = "300s"/;
            s/^timeout_client = .*/timeout_client = "300s"/' "$file"
        start "$WORK/ringway.log" taskset -c 1 "$BIN/ringway" run --config "$file"
        PROXY_PID=$LAST_PID
        ;;
    haproxy)
        local file
        file=$(haproxy_config "$WORK" "$proxy_port" "$origin_port" always 1 1)
        sed -i "s/maxconn 9000/maxconn $(((fd_limit - 200) / 2))/; s/timeout http-keep-alive 10s/timeout http-keep-alive 300s/;
            s/timeout client 30s/timeout client 300s/" "$file"
        start "$WORK/haproxy.log" taskset -c 1 haproxy -db -f "$file"
        PROXY_PID=$LAST_PID
        ;;
    nginx)
        local file
        file=$(nginx_proxy_config "$WORK" "$proxy_port" "$origin_port" 1 10)
        sed -i "s/worker_connections 9000/worker_connections $((fd_limit - 200))/;
            s/worker_rlimit_nofile 20000/worker_rlimit_nofile $fd_limit/;
            s/keepalive_timeout 60s;/keepalive_timeout 300s;/" "$file"
        grep -q "^    keepalive_timeout" "$file" || sed -i 's/^http {/http {\n    keepalive_timeout 300s;\n    keepalive_requests 1000000;/' "$file"
        start "$WORK/nginx.log" taskset -c 1 nginx -c "$file" -p "$WORK"
        wait_port "$proxy_port"
        PROXY_PID=$(pgrep -P "$LAST_PID" | head -1)
        ;;
    esac
    wait_port "$proxy_port"
}

busy_cpu_per_request() { # prints µs of proxy CPU per request of 50 keep-alive clients
    local before after json="$WORK/busy.json" requests
    before=$(cpu_ticks "$PROXY_PID")
    taskset -c 0 "$BIN/ringway-load" run --url "http://127.0.0.1:$proxy_port/" --connections 50 \
        --duration "${BUSY_SECONDS}s" --threads 1 --quiet --json "$json" >/dev/null
    after=$(cpu_ticks "$PROXY_PID")
    requests=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['requests'])" "$json")
    python3 -c "print(round(($after-$before)/$tick_hz*1e6/max($requests,1),2))"
}

printf '| proxy | idle connections | RSS before (MB) | RSS after (MB) | KB per connection | idle CPU (ms/s) | busy µs/req alone | busy µs/req beside them |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for proxy in $PROXIES; do
    for count in $COUNTS; do
        proxy_up "$proxy"
        busy_cpu_per_request >/dev/null # warm up
        alone=$(busy_cpu_per_request)
        rss0=$(rss_kb "$PROXY_PID")
        coproc HOLD { taskset -c 0 python3 "$BENCH_DIR/tools/idle_clients.py" 127.0.0.1 "$proxy_port" "$count"; }
        read -r ready _ <&"${HOLD[0]}"
        [ "$ready" = ready ] || { echo "idle clients failed" >&2; exit 1; }
        sleep 1
        rss1=$(rss_kb "$PROXY_PID")
        t0=$(cpu_ticks "$PROXY_PID")
        sleep "$IDLE_SECONDS"
        t1=$(cpu_ticks "$PROXY_PID")
        beside=$(busy_cpu_per_request)
        idle_ms=$(python3 -c "print(round(($t1-$t0)/$tick_hz*1000/$IDLE_SECONDS,2))")
        per_conn=$(python3 -c "print(round(($rss1-$rss0)/$count,2))")
        printf '| %s | %s | %.1f | %.1f | %s | %s | %s | %s |\n' "$proxy" "$count" \
            "$(echo "$rss0/1024" | bc -l)" "$(echo "$rss1/1024" | bc -l)" "$per_conn" "$idle_ms" "$alone" "$beside"
        exec {HOLD[1]}>&-
        wait "$HOLD_PID" 2>/dev/null || true
        stop_pid "$PROXY_PID"
        [ "$proxy" != nginx ] || { pkill -f "nginx -c $WORK" || true; }
    done
done
