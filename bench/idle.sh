#!/usr/bin/env bash
# Idle keep-alive client connections (issue 20): what each costs in memory and in CPU while
# idle, and what they do to the CPU per request of 50 busy clients beside them, for ringway,
# HAProxy and nginx, one shard / thread / worker each on CPU 1.
#
#   bench/idle.sh                              # COUNTS="2500 5000 9000" ROUNDS=3
#   PROXIES=ringway ROUNDS=5 BUSY_SECONDS=0 bench/idle.sh   # memory only
#   RINGWAY_BEFORE=/tmp/base/target/release/ringway PROXIES="ringway ringway-before" bench/idle.sh
#
# Each round starts the proxy afresh, warms it up with the busy clients, and reads its memory
# (RssAnon and VmRSS from /proc/PID/status: RssAnon is the heap, without the binary's code
# pages, which the first requests page in). Then one client process
# (bench/tools/idle_clients.py, CPU 0) opens idle keep-alive connections in steps up to each
# count in COUNTS (each makes one request, then stays idle), and the memory is read again at
# each step, after SETTLE seconds. Per round: KB per connection at each count (the difference
# from before, over the count) and the slope of a least-squares line through the steps, in KB
# per added connection. What a proxy takes once (a pool of buffers filled while the clients
# connect 500 at a time, tables sized at start) moves the first figure and not the slope.
# The summary gives the median and the range over the rounds.
#
# At the largest count the round also measures the proxy's CPU over IDLE_SECONDS while the
# connections stay idle (ms per second), and unless BUSY_SECONDS=0 the CPU per request of 50
# busy keep-alive clients (ringway-load run) beside the idle ones, against the same load
# before they came. The idle CPU is read from the threads' schedstat (nanoseconds), not in
# clock ticks, and taken IDLE_WAIT seconds (default 11) after the last step, once the work its
# requests left behind is done: its clients, 500 connecting at once, left up to 500 server
# connections in the proxy's pool, which the pool's purge (pool_purge_delay, 5 s in both
# configs) closes in the seconds after; and in ringway each connection's request deadline
# (timeout_http_request, 10 s) comes due 10 s after its request and is queued again for the
# keep-alive timeout (ringway-net/src/deadlines.rs), once. IDLE_WAIT=0 takes it right after
# SETTLE.
#
# Each proxy needs a descriptor per idle client and HAProxy reserves two per `maxconn`: the
# open-file limit is raised to the hard limit, and a count that does not fit is refused
# (without HAProxy in PROXIES, ringway and nginx fit one connection per descriptor).
# Containers often cap the hard limit at 20 000, which leaves 50 000 out.
#
# Past 25 % of the descriptor limit in use, ringway and HAProxy keep no server connection idle
# (HAProxy's tune.pool-high-fd-ratio): the busy clients beside many idle ones then connect per
# request. FD_RATIO=90 sets both proxies' high ratio to 90 and low ratio to 80 (ringway's
# pool_high_fd_ratio and pool_low_fd_ratio), to measure what the idle connections themselves
# cost the busy ones.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=bench/lib.sh
. "$BENCH_DIR/lib.sh"
COUNTS=${COUNTS:-"2500 5000 9000"}
ROUNDS=${ROUNDS:-3}
PROXIES=${PROXIES:-"ringway haproxy nginx"}
SETTLE=${SETTLE:-2}
IDLE_SECONDS=${IDLE_SECONDS:-5}
IDLE_WAIT=${IDLE_WAIT:-11}
BUSY_SECONDS=${BUSY_SECONDS:-5}
PORT_BASE=${PORT_BASE:-29100}
BIN=${BIN:-$ROOT/target/release}
RINGWAY_BEFORE=${RINGWAY_BEFORE:-} # a ringway binary to compare, run as proxy `ringway-before`
FD_RATIO=${FD_RATIO:-}             # the proxies' pool high fd ratio; empty: their default (25)
WORK=$(mktemp -d /tmp/ringway-idle.XXXXXX)
trap 'cleanup; rm -rf "$WORK"' EXIT

ulimit -n "$(ulimit -Hn)"
fd_limit=$(ulimit -n)
largest=0 fitting=$((fd_limit - 500))
case " $PROXIES " in *" haproxy "*) fitting=$(((fd_limit - 200) / 2)) ;; esac
for count in $COUNTS; do
    if [ "$count" -gt "$fitting" ]; then
        echo "$count idle connections do not fit the open-file limit ($fd_limit): HAProxy needs" \
            "two descriptors per connection it may take, the others one and room for servers" >&2
        exit 2
    fi
    [ "$count" -gt "$largest" ] || { echo "COUNTS must grow: $COUNTS" >&2 && exit 2; }
    largest=$count
done
need_commands "haproxy:haproxy" "nginx:nginx-light" "python3:python3"
[ -n "${NO_BUILD:-}" ] || (cd "$ROOT" && cargo build --release -q)
tick_hz=$(getconf CLK_TCK)
origin_port=$PORT_BASE proxy_port=$((PORT_BASE + 1))

start "$WORK/origin.log" taskset -c 0 "$BIN/ringway-load" origin --listen "127.0.0.1:$origin_port" \
    --body-size 10 --threads 1
wait_port "$origin_port"

memory_kb() { # <pid>: "RssAnon VmRSS" in KB
    awk '/^RssAnon/ {anon = $2} /^VmRSS/ {rss = $2} END {print anon, rss}' "/proc/$1/status"
}

proxy_up() { # <proxy>: starts it on CPU 1; sets PROXY_PID (the process serving)
    case $1 in
    ringway | ringway-before)
        local file binary=$BIN/ringway
        [ "$1" = ringway ] || binary=${RINGWAY_BEFORE:?RINGWAY_BEFORE: the ringway binary to compare}
        file=$(ringway_config "$WORK" "$proxy_port" "$origin_port" always 1)
        sed -i 's/^max_conn = .*/max_conn = 120000/; s/^pin_shards = .*/pin_shards = false/;
            s/^timeout_http_keep_alive = .*/timeout_http_keep_alive = "300s"/;
            s/^timeout_client = .*/timeout_client = "300s"/' "$file"
        [ -z "$FD_RATIO" ] ||
            sed -i "s/^max_conn = .*/&\npool_high_fd_ratio = $FD_RATIO\npool_low_fd_ratio = $((FD_RATIO - 10))/" "$file"
        start "$WORK/ringway.log" taskset -c 1 "$binary" run --config "$file"
        PROXY_PID=$LAST_PID
        ;;
    haproxy)
        local file
        file=$(haproxy_config "$WORK" "$proxy_port" "$origin_port" always 1 1)
        sed -i "s/maxconn 9000/maxconn $(((fd_limit - 200) / 2))/; s/timeout http-keep-alive 10s/timeout http-keep-alive 300s/;
            s/timeout client 30s/timeout client 300s/" "$file"
        [ -z "$FD_RATIO" ] ||
            sed -i "s/^    maxconn .*/&\n    tune.pool-high-fd-ratio $FD_RATIO\n    tune.pool-low-fd-ratio $((FD_RATIO - 10))/" "$file"
        start "$WORK/haproxy.log" taskset -c 1 haproxy -db -f "$file"
        PROXY_PID=$LAST_PID
        ;;
    nginx)
        local file
        file=$(nginx_proxy_config "$WORK" "$proxy_port" "$origin_port" 1 10)
        # The client side's keep-alive timeout (the http block's), not the upstream's.
        sed -i "s/worker_connections 9000/worker_connections $((fd_limit - 200))/;
            s/worker_rlimit_nofile 20000/worker_rlimit_nofile $fd_limit/;
            s/^    keepalive_timeout 10s;/    keepalive_timeout 300s;/" "$file"
        grep -q "^    keepalive_timeout 300s;" "$file" || { echo "nginx keep-alive timeout not set" >&2 && exit 1; }
        start "$WORK/nginx.log" taskset -c 1 nginx -c "$file" -p "$WORK"
        wait_port "$proxy_port"
        PROXY_PID=$(pgrep -P "$LAST_PID" | head -1)
        ;;
    esac
    wait_port "$proxy_port"
}

proxy_down() { # <proxy>
    stop_pid "$PROXY_PID"
    [ "$1" != nginx ] || { pkill -f "nginx -c $WORK" || true; }
}

cpu_ns() { # <pid>: CPU time of its threads so far, in ns (schedstat: clock ticks are 10 ms,
    # too coarse for an idle process, which a tick more or less moves by 2 ms/s)
    cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{total += $1} END {printf "%.0f", total}'
}

busy_cpu_per_request() { # <seconds>: prints µs of proxy CPU per request of 50 keep-alive clients
    local before after json="$WORK/busy.json" requests
    before=$(cpu_ticks "$PROXY_PID")
    taskset -c 0 "$BIN/ringway-load" run --url "http://127.0.0.1:$proxy_port/" --connections 50 \
        --duration "${1}s" --threads 1 --quiet --json "$json" >/dev/null
    after=$(cpu_ticks "$PROXY_PID")
    requests=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['requests'])" "$json")
    python3 -c "print(round(($after-$before)/$tick_hz*1e6/max($requests,1),2))"
}

# One line per proxy and round in $WORK/rounds: proxy, round, then "count:anon:rss" points (the
# first with count 0, before), idle ms/s, busy µs/req alone and beside.
: >"$WORK/rounds"
for ((round = 1; round <= ROUNDS; round++)); do
    for proxy in $PROXIES; do
        proxy_up "$proxy"
        alone=-
        if [ "$BUSY_SECONDS" != 0 ]; then
            busy_cpu_per_request 2 >/dev/null # warm up
            alone=$(busy_cpu_per_request "$BUSY_SECONDS")
        else
            busy_cpu_per_request 1 >/dev/null # warm up: the busy path's buffers and code
        fi
        sleep "$SETTLE"
        read -r anon rss < <(memory_kb "$PROXY_PID")
        points="0:$anon:$rss"
        coproc HOLD { taskset -c 0 python3 "$BENCH_DIR/tools/idle_clients.py" 127.0.0.1 "$proxy_port"; }
        for count in $COUNTS; do
            echo "$count" >&"${HOLD[1]}"
            read -r ready held <&"${HOLD[0]}" || true
            [ "${ready:-}" = ready ] && [ "$held" = "$count" ] || {
                echo "$proxy: the idle clients failed at $count" >&2
                exit 1
            }
            sleep "$SETTLE"
            read -r anon rss < <(memory_kb "$PROXY_PID")
            points+=" $count:$anon:$rss"
        done
        sleep "$IDLE_WAIT"
        t0=$(cpu_ns "$PROXY_PID")
        sleep "$IDLE_SECONDS"
        t1=$(cpu_ns "$PROXY_PID")
        idle_ms=$(python3 -c "print(round(($t1-$t0)/1e6/$IDLE_SECONDS,3))")
        beside=-
        [ "$BUSY_SECONDS" = 0 ] || beside=$(busy_cpu_per_request "$BUSY_SECONDS")
        echo "$proxy $round $idle_ms $alone $beside $points" | tee -a "$WORK/rounds" >&2
        exec {HOLD[1]}>&-
        wait "$HOLD_PID" 2>/dev/null || true
        proxy_down "$proxy"
    done
done

python3 - "$WORK/rounds" <<'PY'
import statistics
import sys


def slope(points):
    """KB per added connection: least squares through the steps (before left out)."""
    xs = [count for count, _ in points]
    ys = [kb for _, kb in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def spread(values):
    values = sorted(values)
    med = statistics.median(values)
    return f"{med:.2f} ({values[0]:.2f}–{values[-1]:.2f})"


rows = {}
for line in open(sys.argv[1]):
    proxy, _, idle_ms, alone, beside, *points = line.split()
    points = [tuple(int(v) for v in point.split(":")) for point in points]
    rows.setdefault(proxy, []).append((float(idle_ms), alone, beside, points))

counts = [count for count, _, _ in rows[next(iter(rows))][0][3][1:]]
print(f"{len(rows[next(iter(rows))])} rounds; medians (range). Per-count figures: (RssAnon at "
      "the count - before) / count; slope: least squares through the steps.")
head = ["proxy", "RssAnon before (MB)"] + [f"KB/conn at {c}" for c in counts]
head += ["KB/conn slope (RssAnon)", "KB/conn slope (VmRSS)", f"all RssAnon / {counts[-1]} (KB)",
         "idle CPU (ms/s)", "busy µs/req alone", "beside them"]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for proxy, runs in rows.items():
    cells = [proxy, spread([run[3][0][1] / 1024 for run in runs])]
    for index in range(1, len(counts) + 1):
        cells.append(spread([(run[3][index][1] - run[3][0][1]) / run[3][index][0] for run in runs]))
    for column in (1, 2):
        if len(counts) < 2:
            cells.append("–")
            continue
        cells.append(spread([slope([(p[0], p[column]) for p in run[3][1:]]) for run in runs]))
    # What the proxy holds in all, per connection, tables sized at start included.
    cells.append(spread([run[3][-1][1] / run[3][-1][0] for run in runs]))
    cells.append(spread([run[0] for run in runs]))
    for column in (1, 2):
        values = [float(run[column]) for run in runs if run[column] != "-"]
        cells.append(spread(values) if values else "–")
    print("| " + " | ".join(cells) + " |")


def median_of(proxy, value):
    values = [v for v in (value(run) for run in rows.get(proxy, [])) if v is not None]
    return statistics.median(values) if values else None


def busy_ratio(run):
    return float(run[2]) / float(run[1]) if "-" not in (run[1], run[2]) else None


# Issue 20's targets, from the medians: memory per idle connection ≤ HAProxy's, no CPU while
# idle (HAProxy's own figure for scale: no process with timers is at 0), the busy clients
# beside the idle ones within 10 % of their CPU per request alone.
targets = []
slope_of = lambda run: slope([(p[0], p[1]) for p in run[3][1:]]) if len(counts) > 1 else None
if "ringway" in rows and "haproxy" in rows:
    for label, value in (("slope", slope_of),
                         (f"all RssAnon / {counts[-1]}", lambda run: run[3][-1][1] / run[3][-1][0])):
        r, h = median_of("ringway", value), median_of("haproxy", value)
        if r is not None and h:
            targets.append([f"idle connections, memory ({label}): ringway ÷ HAProxy ≤ 1",
                            f"{r:.2f} ÷ {h:.2f} KB = {r / h:.2f}", "yes" if r <= h else "**no**"])
    r, h = median_of("ringway", lambda run: run[0]), median_of("haproxy", lambda run: run[0])
    targets.append(["idle connections, CPU while idle: ringway 0 ms/s (HAProxy's for scale)",
                    f"{r:.2f} (HAProxy {h:.2f})", "yes" if r <= h else "**no**"])
for proxy in rows:
    v = median_of(proxy, busy_ratio)
    if v is not None:
        met = ("yes" if v <= 1.10 else "**no**") if proxy == "ringway" else "-"
        targets.append([f"{proxy}: busy CPU/req beside {counts[-1]} idle ÷ alone ≤ 1.10",
                        f"{v:.2f}", met])
if targets:
    print()
    print("| target (issue 20) | measured | met |")
    print("|---|---|---|")
    for row in targets:
        print("| " + " | ".join(row) + " |")
PY
