#!/usr/bin/env bash
# ringway against HAProxy and nginx on this machine, same settings, same pinning.
#
#   bench/run.sh                        # everything (about 19 minutes with the defaults)
#   SCENARIOS="keepalive close" bench/run.sh
#   DURATION=10s RUNS=5 bench/run.sh
#   RINGWAY_BEFORE=/tmp/main/target/release/ringway PROXIES="ringway ringway-before haproxy" \
#       ALTERNATE=1 SCENARIOS=close MODES="never safe aggressive" bench/run.sh
#                                       # another ringway binary as proxy `ringway-before`,
#                                       # the cells of the keepalive and close tables in turns
#
# The proxy runs alone on PROXY_CPUS (default: the last CPU); the origin (ringway-load origin)
# and the load generator (ringway-load run) share LOAD_CPU (default: CPU 0). Every figure is the
# median of RUNS runs with its min-max spread, and comes with the proxy's CPU time per request
# (utime + stime of the proxy's processes, sampled right before and after each run).
#
# Scenarios (SCENARIOS, default all, in this order):
#   loadgen    wrk -t1 against ringway-load --threads 1, same core, against nginx `return 200`
#   keepalive  keep-alive clients, every proxy under every reuse mode (nginx: one row), and
#              with FLOOR=1 (the default) the floor: `ringway-load forward`, a byte-for-byte
#              TCP forwarder with no HTTP work, what the kernel's TCP path alone costs a proxy,
#              waiting with epoll (floor) and with an io_uring ring (floor-uring)
#   close      Connection: close clients, same rows
#   latency    open loop at LATENCY_SHARE (0.5) of HAProxy's keep-alive max rate: p50/p99/p99.9,
#              LATENCY_RUNS (5) runs per proxy, the proxies taking turns; with FLOOR=1 the
#              floors too, so CPU per request is compared with TCP's cost at the same rate
#   shards     one shard/thread/worker pinned to PROXY_CPUS against one per CPU on all CPUs
#   bodies     response bodies of BODIES bytes (0, 4 KiB, 64 KiB), keep-alive
#   tls        HTTPS on the client side and on the server side (TLS_VARIANTS, below), http-reuse
#              always: req/s, CPU per request, handshakes/s, server TLS connections
#   idle       idle keep-alive client connections (bench/idle.sh): memory per connection, CPU
#              while idle, and 50 busy clients' CPU per request beside them, ringway against
#              HAProxy (IDLE_ROUNDS rounds, 1; IDLE_COUNTS, default the largest count the
#              open-file limit fits up to 9 000 and a third of it; FD_RATIO 90, see idle.sh),
#              with issue 20's targets; appended to the report as it prints
#   h2         the seed-002 HTTP/2 table (bench/h2.sh, one run per row): HTTP/2 and HTTP/1.1
#              servers, reuse safe/aggressive/always, close, keep-alive and h2 clients; new and
#              most server connections, CPU per request, ringway ÷ HAProxy, and the h2 crate's
#              floor (h2floor) for the h2 clients; appended to the report as it prints
#
# Results: $OUT/$REPORT.json (every run), $REPORT.md (tables), *.svg (charts); REPORT defaults
# to latest. A run of a subset of the scenarios writes to bench/results/tmp unless OUT is set,
# so the full results stay; `SCENARIOS=keepalive RUNS=5 OUT=bench/results REPORT=keepalive-5runs
# bench/run.sh` writes bench/results/keepalive-5runs.{json,md} and its charts
# (keepalive-5runs-*.svg) beside them.
set -Eeuo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

ALL_SCENARIOS="loadgen keepalive close latency shards bodies tls idle h2"
SCENARIOS=${SCENARIOS:-$ALL_SCENARIOS}
DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-1s}
RUNS=${RUNS:-3}
CONNECTIONS=${CONNECTIONS:-50}
PROXIES=${PROXIES:-ringway haproxy nginx}
RINGWAY_BEFORE=${RINGWAY_BEFORE:-}   # a ringway binary to compare, run as proxy `ringway-before`
ALTERNATE=${ALTERNATE:-0}             # keepalive, close: one run per cell in turns, RUNS rounds
LOAD_OPTS=${LOAD_OPTS:-}              # keepalive, close: more ringway-load options (--rate N)
FLOOR=${FLOOR:-1}                     # keepalive, latency: also measure the byte forwarder (the floor)
MODES=${MODES:-never safe aggressive always}
REUSE=${REUSE:-safe}                  # reuse mode of the latency, shards and bodies scenarios
BODIES=${BODIES:-0 4096 65536}
LATENCY_SHARE=${LATENCY_SHARE:-0.5}
LATENCY_RUNS=${LATENCY_RUNS:-$((RUNS > 5 ? RUNS : 5))}  # latency: runs per proxy, taken in turns
# The tls scenario's rows, each for every proxy (see scenario_tls): plain-* are the same rows
# without TLS, the baseline the TLS cost is read against.
ALL_TLS_VARIANTS="plain-ka client-ka server-ka plain-close client-close client-close-full server-close server-close-never"
TLS_VARIANTS=${TLS_VARIANTS:-$ALL_TLS_VARIANTS}
NCPU=$(nproc)
LOAD_CPU=${LOAD_CPU:-0}
PROXY_CPUS=${PROXY_CPUS:-$((NCPU - 1))}
ALL_CPUS="0-$((NCPU - 1))"
LOAD_SPIN=${LOAD_SPIN:-2}             # ringway-load --spin-rounds for origin and generator
OTHER_MAX=${OTHER_MAX:-0.1}           # a run is repeated when other processes used more CPU
RETRIES=${RETRIES:-2}                 # ... at most this many times
PORT_BASE=${PORT_BASE:-28000}
PROXY_PORT=$PORT_BASE
ORIGIN_PORT=$((PORT_BASE + 1))
STATIC_PORT=$((PORT_BASE + 2))
BIN=${BIN:-$ROOT/target/release}
if [ -z "${OUT:-}" ]; then
    OUT=$BENCH_DIR/results
    [ "$SCENARIOS" = "$ALL_SCENARIOS" ] || OUT=$BENCH_DIR/results/tmp
fi
REPORT=${REPORT:-latest}
HZ=$(getconf CLK_TCK)

WORK=$(mktemp -d /tmp/ringway-bench.XXXXXX)
RAW=$WORK/raw.jsonl
: >"$RAW"
trap 'cleanup; [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
trap 'KEEP_WORK=1; echo "bench/run.sh failed at line $LINENO ($BASH_COMMAND); logs and configurations kept in $WORK" >&2' ERR

# ---------------------------------------------------------------- setup

# (linux-perf is only needed by bench/profile.sh, which installs it.)
need_commands haproxy:haproxy nginx:nginx-light socat:socat jq:jq curl:curl \
    /usr/bin/time:time taskset:util-linux
# wrk only for the loadgen scenario.
case " $SCENARIOS " in *" loadgen "*) need_commands wrk:wrk ;; esac
if [ "$NCPU" -lt 2 ]; then
    echo "bench/run.sh needs at least 2 CPUs (proxy on one, load and origin on another)" >&2
    exit 2
fi
ulimit -n "$(ulimit -H -n)"
ulimit -l unlimited 2>/dev/null || ulimit -l "$(ulimit -H -l)" 2>/dev/null || true
for port in "$PROXY_PORT" "$ORIGIN_PORT" "$STATIC_PORT"; do port_free "$port"; done

if [ -z "${NO_BUILD:-}" ]; then
    log "building ringway and ringway-load (release)"
    (cd "$ROOT" && cargo build --release -q -p ringway -p ringway-load)
fi

# ---------------------------------------------------------------- processes

# TLS of the proxies started next (set by scenario_tls): CLIENT_TLS and SERVER_TLS are empty
# (plain HTTP) or the directory of the test certificates (CERTS); see bench/lib.sh.
CLIENT_TLS='' SERVER_TLS='' VARIANT='' WARM_STATS=null
CERTS=$WORK/certs

ORIGIN_PID='' ORIGIN_SCHEME=http
origin_start() { # <body bytes> [http | https]
    local tls=()
    ORIGIN_SCHEME=${2:-http}
    [ "$ORIGIN_SCHEME" = http ] || tls=(--tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key")
    start "$WORK/origin.log" taskset -c "$LOAD_CPU" "$BIN/ringway-load" origin \
        --listen "127.0.0.1:$ORIGIN_PORT" --threads 1 --body-size "$1" --spin-rounds "$LOAD_SPIN" \
        "${tls[@]}"
    ORIGIN_PID=$LAST_PID
    wait_port "$ORIGIN_PORT"
}
origin_stop() { [ -z "$ORIGIN_PID" ] || stop_pid "$ORIGIN_PID"; ORIGIN_PID=; }

PROXY_MAIN='' PROXY_PIDS=() PROXY_SOCK=''
proxy_start() { # <proxy> <mode> <shards: 1 | all>
    local proxy=$1 mode=$2 cpus=$PROXY_CPUS n=1 cfg
    if [ "$3" = all ]; then cpus=$ALL_CPUS n=$NCPU; fi
    PROXY_SOCK=
    case $proxy in
        ringway | ringway-before)
            local binary=$BIN/ringway
            [ "$proxy" = ringway ] || binary=${RINGWAY_BEFORE:?RINGWAY_BEFORE: the ringway binary to compare}
            # ringway pins shard i to the i-th CPU of its affinity mask (core_affinity), so
            # taskset decides the CPUs; shards = 0 means one per allowed CPU.
            cfg=$(ringway_config "$WORK" "$PROXY_PORT" "$ORIGIN_PORT" "$mode" \
                "$([ "$3" = all ] && echo 0 || echo 1)" "$CLIENT_TLS" "$SERVER_TLS")
            start "$WORK/ringway.log" taskset -c "$cpus" "$binary" run -c "$cfg"
            PROXY_SOCK=$WORK/ringway.sock
            ;;
        haproxy)
            cfg=$(haproxy_config "$WORK" "$PROXY_PORT" "$ORIGIN_PORT" "$mode" "$n" "$cpus" \
                "$CLIENT_TLS" "$SERVER_TLS")
            start "$WORK/haproxy.log" taskset -c "$cpus" haproxy -db -f "$cfg"
            PROXY_SOCK=$WORK/haproxy.sock
            ;;
        nginx)
            local masks cpu_array
            read -ra cpu_array <<<"$(cpu_list "$cpus")"
            masks=$(nginx_masks "${cpu_array[@]}")
            # nginx has no reuse modes; `never` is an upstream without keep-alive.
            cfg=$(nginx_proxy_config "$WORK" "$PROXY_PORT" "$ORIGIN_PORT" "$n" "$masks" \
                "$CLIENT_TLS" "$SERVER_TLS" "$([ "$mode" = never ] && echo off || echo on)")
            start "$WORK/nginx.log" taskset -c "$cpus" nginx -e "$WORK/nginx-proxy-error.log" -c "$cfg"
            ;;
        floor | floor-uring)
            # One thread, one server connection per client connection: shards and modes do
            # not apply.
            start "$WORK/$proxy.log" taskset -c "$cpus" "$BIN/ringway-load" forward \
                --listen "127.0.0.1:$PROXY_PORT" --server "127.0.0.1:$ORIGIN_PORT" \
                $([ "$proxy" = floor-uring ] && echo --io-uring)
            ;;
    esac
    PROXY_MAIN=$LAST_PID
    wait_port "$PROXY_PORT"
    local i
    for ((i = 0; i < 100; i++)); do
        [ -z "$PROXY_SOCK" ] || [ -S "$PROXY_SOCK" ] && break
        sleep 0.05
    done
    if [ "$proxy" = nginx ]; then
        for ((i = 0; i < 100; i++)); do
            [ "$(pgrep -c -P "$PROXY_MAIN")" -ge "$n" ] && break
            sleep 0.05
        done
    fi
    read -ra PROXY_PIDS <<<"$(process_tree "$PROXY_MAIN")"
}
proxy_stop() { stop_pid "$PROXY_MAIN"; PROXY_MAIN='' PROXY_PIDS=(); }

# Expands "0-1,3" into "0 1 3".
cpu_list() {
    local part out=()
    for part in ${1//,/ }; do
        if [[ $part == *-* ]]; then
            mapfile -t -O "${#out[@]}" out < <(seq "${part%-*}" "${part#*-}")
        else
            out+=("$part")
        fi
    done
    echo "${out[*]}"
}

# ---------------------------------------------------------------- measuring

# ringway-load run against the proxy with the common options: load <json file> [options]...
# (https when the proxy terminates TLS: no certificate verification, no SNI, sessions resumed
# unless the options say --no-tls-resume)
load() {
    local json=$1 scheme=http
    shift
    [ -z "$CLIENT_TLS" ] || scheme=https
    /usr/bin/time -f '%U %S' -o "$WORK/load-time.txt" \
        taskset -c "$LOAD_CPU" "$BIN/ringway-load" run --url "$scheme://127.0.0.1:$PROXY_PORT/" \
        --threads 1 --connections "$CONNECTIONS" --quiet --spin-rounds "$LOAD_SPIN" \
        --json "$json" "$@" >"$WORK/load.txt"
}

warm_up() { load "$WORK/warmup.json" --duration "$WARMUP" "$@"; }

# Whether other processes disturbed the run in $WORK/row.json: used more than OTHER_MAX of a CPU.
disturbed() {
    jq -e --argjson max "$OTHER_MAX" '.other_cpu_util > $max' "$WORK/row.json" >/dev/null
}

# One measured run, repeated (up to RETRIES times) while other processes on the machine used
# more than OTHER_MAX of a CPU during it; appends a JSON line to $RAW.
# measure <scenario> <proxy> <mode> <clients> <body> <shards> <run> [ringway-load options]...
measure() {
    local attempt
    for ((attempt = 1; ; attempt++)); do
        measure_once "$@"
        if ! disturbed || [ "$attempt" -gt "$RETRIES" ]; then break; fi
        jq -r '"   run \(.run) disturbed: other processes used \(.other_cpu_util * 100 | round)% of a CPU; again"' \
            "$WORK/row.json" >&2
    done
    jq -c --argjson a "$attempt" '. + {attempts: $a}' "$WORK/row.json" >>"$RAW"
    tail -n 1 "$RAW" | jq -r '"   run \(.run): \(.rps | floor) req/s, \((.cpu_us_per_req // 0) * 100 | round / 100) us CPU/req (\((.proxy_cpu_util // 0) * 100 | round)% of a CPU), server connects \(.server_connects // "-"), origin accepted \(.origin_accepted), peak \(.origin_open_max), p99 \(.latency_us.p99) us, errors \(.errors), TIME_WAIT proxy->origin \(.tw_to_origin) proxy-clients \(.tw_proxy_clients)"
        + (if .client_tls_handshakes != null then ", client TLS handshakes \(.client_tls_handshakes) (\(.client_tls_resumed) resumed)" else "" end)
        + (if .origin_tls_handshakes != null then ", server TLS handshakes \(.origin_tls_handshakes) (\(.origin_tls_resumed) resumed)" else "" end)' >&2
}

# TIME_WAIT sockets on the machine that entered the state in the last <seconds> (their 60 s
# timer has more left than 60 - seconds), split by who holds them as in
# ../shared/docs/field-notes.md: the proxy towards the origin (the proxy closed first), the
# origin, the proxy's client connections, the clients. As JSON.
time_waits() { # <seconds>
    ss -Htano state time-wait | awk -v since="$1" -v proxy="$PROXY_PORT" -v origin="$ORIGIN_PORT" '
        function port(a) { sub(/.*:/, "", a); return a }
        {
            if (!match($0, /timewait,[0-9.]+(ms|sec|min)/)) next
            t = substr($0, RSTART + 9, RLENGTH - 9)
            left = t + 0
            if (t ~ /ms$/) left /= 1000; else if (t ~ /min$/) left *= 60
            if (left < 60 - since - 1) next
            l = port($3); p = port($4)
            if (p == origin && l != origin) to_origin++
            else if (l == origin) origin_side++
            else if (l == proxy) proxy_clients++
            else if (p == proxy) client_side++
        }
        END { printf "{\"to_origin\": %d, \"origin_side\": %d, \"proxy_clients\": %d, \"client_side\": %d}\n",
              to_origin, origin_side, proxy_clients, client_side }'
}

# One run of the load against the running proxy, its figures written to $WORK/row.json.
measure_once() {
    local scenario=$1 proxy=$2 mode=$3 clients=$4 body=$5 shards=$6 run=$7
    shift 7
    local c0=null c1=null p0 p1 o0 o1 m0 m1 ostats tasks=null tw w0
    origin_reset "$ORIGIN_PORT" "$ORIGIN_SCHEME"
    w0=$(date +%s)
    [ -z "$PROXY_SOCK" ] || c0=$(server_connects "$PROXY_SOCK")
    m0=$(machine_ticks)
    p0=$(cpu_ticks "${PROXY_PIDS[@]}")
    o0=$(cpu_ticks "$ORIGIN_PID")
    load "$WORK/run.json" --duration "$DURATION" "$@"
    p1=$(cpu_ticks "${PROXY_PIDS[@]}")
    o1=$(cpu_ticks "$ORIGIN_PID")
    m1=$(machine_ticks)
    [ -z "$PROXY_SOCK" ] || c1=$(server_connects "$PROXY_SOCK")
    tw=$(time_waits "$(($(date +%s) - w0 + 1))")
    ostats=$(origin_stats "$ORIGIN_PORT" "$ORIGIN_SCHEME")
    # Once per proxy start: the per-thread sums, which must match the process figures.
    if [ "$run" = 1 ]; then
        local pid thread_sum=0
        for pid in "${PROXY_PIDS[@]}"; do thread_sum=$((thread_sum + $(task_ticks "$pid"))); done
        tasks=$(jq -n --argjson p "$(cpu_ticks "${PROXY_PIDS[@]}")" --argjson t "$thread_sum" \
            '{process_ticks: $p, thread_sum_ticks: $t}')
    fi
    jq -c -n --slurpfile l "$WORK/run.json" --argjson o "$ostats" \
        --arg scenario "$scenario" --arg proxy "$proxy" --arg mode "$mode" --arg clients "$clients" \
        --argjson body "$body" --arg shards "$shards" --argjson run "$run" \
        --argjson pt $((p1 - p0)) --argjson ot $((o1 - o0)) --argjson hz "$HZ" \
        --argjson busy $((${m1% *} - ${m0% *})) --argjson steal $((${m1#* } - ${m0#* })) \
        --argjson c0 "$c0" --argjson c1 "$c1" --argjson tasks "$tasks" \
        --arg variant "$VARIANT" --argjson warm "$WARM_STATS" --arg oscheme "$ORIGIN_SCHEME" \
        --argjson tw "$tw" \
        --arg ltime "$(tail -n 1 "$WORK/load-time.txt")" '
        $l[0] as $l | ($pt / $hz) as $cpu | ($ltime | split(" ") | map(tonumber) | add) as $lcpu
        | ([$l.duration_secs, 0.001] | max) as $secs
        # TLS handshakes: the clients (with the proxy) and the origin (with the proxy; less the
        # one of the stats request itself). null where that side is plain HTTP.
        | (if $l.tls then $l.tls_handshakes else null end) as $chs
        | (if $oscheme == "https" then $o.tls_handshakes - 1 else null end) as $shs
        | (($chs // 0) + ($shs // 0)) as $hs | {
            scenario: $scenario, proxy: $proxy, mode: $mode, clients: $clients, body: $body,
            shards: $shards,
            variant: (if $variant == "" then null else $variant end),
            run: $run, target_rate: $l.target_rate,
            duration_s: $l.duration_secs, requests: $l.requests, rps: $l.rps,
            errors: $l.errors_total, latency_us: $l.latency_us,
            client_conns: $l.connections_opened,
            proxy_cpu_s: $cpu,
            cpu_us_per_req: (if $l.requests > 0 then $cpu * 1e6 / $l.requests else null end),
            proxy_cpu_util: ($cpu / $secs),
            server_connects: (if $c0 == null then null else $c1 - $c0 end),
            # accepted includes the connection of the stats request itself
            origin_accepted: ($o.accepted - 1), origin_requests: $o.requests,
            origin_open_max: $o.open_max,
            origin_cpu_s: ($ot / $hz),
            # TIME_WAIT sockets that entered the state during the run, by holder
            tw_to_origin: $tw.to_origin, tw_origin_side: $tw.origin_side,
            tw_proxy_clients: $tw.proxy_clients, tw_client_side: $tw.client_side,
            client_tls_handshakes: $chs,
            client_tls_resumed: (if $l.tls then $l.tls_resumed else null end),
            origin_tls_handshakes: $shs, origin_tls_resumed: $o.tls_resumed,
            origin_tls_failed: $o.tls_failed,
            handshakes_per_s: (if $hs > 0 then $hs / $secs else null end),
            cpu_us_per_handshake: (if $hs > 0 then $cpu * 1e6 / $hs else null end),
            # the origin from the proxy start to the end of the warm-up (tls cells only)
            warmup_origin_accepted: (if $warm == null then null else $warm.accepted - 1 end),
            warmup_origin_tls_handshakes: (if $warm == null or $oscheme != "https" then null
                else $warm.tls_handshakes - 1 end),
            warmup_origin_tls_resumed: (if $warm == null or $oscheme != "https" then null
                else $warm.tls_resumed end),
            load_cpu_s: $lcpu,
            # CPU the rest of the machine used meanwhile (other users, compilers...)
            other_cpu_util: ((($busy - $pt - $ot) / $hz - $lcpu) / $secs),
            steal_util: ($steal / $hz / $secs),
            cpu_check: $tasks
        }' >"$WORK/row.json"
}

# Starts a proxy, warms it up, measures RUNS runs, stops it.
# cell <scenario> <proxy> <mode> <clients> <body> <shards> [ringway-load options]...
cell() {
    local scenario=$1 proxy=$2 mode=$3 clients=$4 body=$5 shards=$6 run
    shift 6
    local opts=("$@")
    [ "$clients" = close ] && opts+=(--close)
    log "$scenario${VARIANT:+ $VARIANT}: $proxy, reuse $mode, $clients clients, body $body B, shards $shards"
    WARM_STATS=null
    [ -z "$VARIANT" ] || origin_reset "$ORIGIN_PORT" "$ORIGIN_SCHEME"
    proxy_start "$proxy" "$mode" "$shards"
    warm_up "${opts[@]}"
    [ -z "$VARIANT" ] || WARM_STATS=$(origin_stats "$ORIGIN_PORT" "$ORIGIN_SCHEME")
    for ((run = 1; run <= RUNS; run++)); do
        measure "$scenario" "$proxy" "$mode" "$clients" "$body" "$shards" \
            "$((${RUN_OFFSET:-0} + run))" "${opts[@]}"
    done
    proxy_stop
}

modes_of() { if [ "$1" = nginx ]; then echo "-"; else echo "$MODES"; fi; }

# ---------------------------------------------------------------- scenarios

# One run of a load generator against nginx `return 200`, its figures in $WORK/row.json.
# generator_once <tool> <run> <url> <nginx pid>...
generator_once() {
    local tool=$1 run=$2 url=$3 w0 w1 m0 m1 rps spin=()
    shift 3
    m0=$(machine_ticks)
    w0=$(cpu_ticks "$@")
    case $tool in
        wrk)
            /usr/bin/time -f '%U %S' -o "$WORK/gen-time.txt" taskset -c "$LOAD_CPU" \
                wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "$url" >"$WORK/gen.txt"
            rps=$(awk '/^Requests\/sec:/ {print $2}' "$WORK/gen.txt")
            ;;
        ringway-load*)
            [ "$tool" = ringway-load-spin0 ] && spin=(--spin-rounds 0)
            /usr/bin/time -f '%U %S' -o "$WORK/gen-time.txt" taskset -c "$LOAD_CPU" \
                "$BIN/ringway-load" run --url "$url" --threads 1 --connections "$CONNECTIONS" \
                --duration "$DURATION" --quiet "${spin[@]}" --json "$WORK/gen.json" >"$WORK/gen.txt"
            rps=$(jq .rps "$WORK/gen.json")
            ;;
    esac
    w1=$(cpu_ticks "$@")
    m1=$(machine_ticks)
    jq -c -n --arg tool "$tool" --argjson run "$run" --argjson rps "$rps" \
        --arg gen "$(tail -n 1 "$WORK/gen-time.txt")" --arg d "${DURATION%s}" \
        --argjson nt $((w1 - w0)) --argjson hz "$HZ" --argjson busy $((${m1% *} - ${m0% *})) '
        ($gen | split(" ") | map(tonumber) | add) as $g | ($d | tonumber) as $d | {
            scenario: "loadgen", proxy: $tool, mode: "-", clients: "keep-alive", body: 0,
            shards: "1", run: $run, rps: $rps, duration_s: $d,
            load_cpu_s: $g, load_cpu_us_per_req: ($g * 1e6 / ($rps * $d)),
            load_cpu_util: ($g / $d), nginx_cpu_util: ($nt / $hz / $d),
            other_cpu_util: ((($busy - $nt) / $hz - $g) / $d)
        }' >"$WORK/row.json"
}

scenario_loadgen() {
    # nginx `return 200` alone on the proxy CPU; the generators take turns on LOAD_CPU.
    local cfg pid run tool attempt pids
    cfg=$(nginx_static_config "$WORK" "$STATIC_PORT" "$(nginx_masks "${PROXY_CPUS%%[,-]*}")")
    start "$WORK/nginx-static.log" taskset -c "$PROXY_CPUS" nginx -e "$WORK/nginx-static-error.log" -c "$cfg"
    pid=$LAST_PID
    wait_port "$STATIC_PORT"
    sleep 0.2
    read -ra pids <<<"$(process_tree "$pid")"
    local url="http://127.0.0.1:$STATIC_PORT/"
    log "loadgen: wrk -t1 against ringway-load --threads 1 on CPU $LOAD_CPU, nginx on CPU $PROXY_CPUS"
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"$WARMUP" "$url" >/dev/null
    for ((run = 1; run <= RUNS; run++)); do
        for tool in wrk ringway-load ringway-load-spin0; do
            for ((attempt = 1; ; attempt++)); do
                generator_once "$tool" "$run" "$url" "${pids[@]}"
                if ! disturbed || [ "$attempt" -gt "$RETRIES" ]; then break; fi
                jq -r '"   run \(.run) \(.proxy) disturbed: other processes used \(.other_cpu_util * 100 | round)% of a CPU; again"' \
                    "$WORK/row.json" >&2
            done
            jq -c --argjson a "$attempt" '. + {attempts: $a}' "$WORK/row.json" >>"$RAW"
            tail -n 1 "$RAW" | jq -r '"   run \(.run) \(.proxy): \(.rps | floor) req/s, generator \(.load_cpu_us_per_req * 100 | round / 100) us CPU/req (\(.load_cpu_util * 100 | round)% of a CPU), nginx \(.nginx_cpu_util * 100 | round)% of a CPU"' >&2
        done
    done
    stop_pid "$pid"
}

scenario_reuse_table() { # <scenario> <clients: keep-alive | close>
    local proxy mode round
    if [ "$ALTERNATE" = 1 ]; then
        # One run per cell, the cells in turns: a disturbance lands on one run of one cell.
        for ((round = 0; round < RUNS; round++)); do
            for mode in $MODES; do
                for proxy in $PROXIES; do
                    if [ "$proxy" = nginx ]; then
                        # nginx has one row: run it with the first mode only.
                        [ "$mode" = "${MODES%% *}" ] || continue
                        RUNS=1 RUN_OFFSET=$round cell "$1" nginx - "$2" 0 1 $LOAD_OPTS
                    else
                        RUNS=1 RUN_OFFSET=$round cell "$1" "$proxy" "$mode" "$2" 0 1 $LOAD_OPTS
                    fi
                done
            done
        done
        return
    fi
    for proxy in $PROXIES; do
        for mode in $(modes_of "$proxy"); do
            cell "$1" "$proxy" "$mode" "$2" 0 1 $LOAD_OPTS
        done
    done
    if [ "$FLOOR" = 1 ] && [ "$2" = keep-alive ]; then
        cell "$1" floor - "$2" 0 1
        cell "$1" floor-uring - "$2" 0 1
    fi
}

# HAProxy's keep-alive max rate in reuse mode REUSE: from this run's keepalive scenario, or
# measured now.
haproxy_max_rate() {
    local rate
    rate=$(jq -s --arg m "$REUSE" '[.[] | select(.scenario == "keepalive" and .proxy == "haproxy"
        and .mode == $m) | .rps] | sort | if length > 0 then .[length / 2 | floor] else empty end' "$RAW")
    if [ -z "$rate" ]; then
        log "latency: measuring HAProxy's max rate (keep-alive, reuse $REUSE)"
        proxy_start haproxy "$REUSE" 1
        warm_up
        load "$WORK/max.json" --duration "$DURATION"
        rate=$(jq .rps "$WORK/max.json")
        proxy_stop
    fi
    echo "$rate"
}

scenario_latency() {
    local max rate proxy
    max=$(haproxy_max_rate)
    rate=$(jq -n --argjson m "$max" --argjson s "$LATENCY_SHARE" '$m * $s | floor')
    log "latency: fixed rate $rate req/s = $LATENCY_SHARE x HAProxy's $max req/s"
    # The proxies take turns, one run each, LATENCY_RUNS times: a disturbance of a few seconds
    # (the tail percentiles are what it moves) then lands on one run of one proxy, not on
    # every run of whichever proxy was measuring.
    local round proxies=$PROXIES
    [ "$FLOOR" = 1 ] && proxies="$proxies floor floor-uring"
    for ((round = 0; round < LATENCY_RUNS; round++)); do
        for proxy in $proxies; do
            RUNS=1 RUN_OFFSET=$round cell latency "$proxy" \
                "$(case $proxy in ringway | haproxy) echo "$REUSE" ;; *) echo - ;; esac)" \
                keep-alive 0 1 --rate "$rate"
        done
    done
}

scenario_shards() {
    local proxy shards
    for proxy in $PROXIES; do
        for shards in 1 all; do
            cell shards "$proxy" "$([ "$proxy" = nginx ] && echo - || echo "$REUSE")" keep-alive 0 "$shards"
        done
    done
}

scenario_bodies() {
    local body proxy
    for body in $BODIES; do
        origin_stop
        origin_start "$body"
        for proxy in $PROXIES; do
            cell bodies "$proxy" "$([ "$proxy" = nginx ] && echo - || echo "$REUSE")" keep-alive "$body" 1
        done
    done
    origin_stop
    origin_start 0
}

# HTTPS. Every variant runs each proxy with http-reuse always (nginx: its keep-alive upstream),
# except server-close-never (reuse never; nginx without upstream keep-alive). Clients are
# ringway-load on LOAD_CPU as everywhere; the origin is `ringway-load origin`, over HTTPS for
# the server-* variants. One test certificate (ECDSA P-256, `ringway-load certs`) everywhere.
#   plain-ka            keep-alive clients, plain HTTP on both sides (the baseline)
#   client-ka           a. HTTPS keep-alive clients -> plain origin
#   server-ka           c. plain keep-alive clients -> HTTPS origin
#   plain-close         Connection: close clients, plain (the baseline of the close rows)
#   client-close        b. HTTPS Connection: close clients: one TLS handshake per request,
#                          resuming the client's earlier session
#   client-close-full   b. the same with --no-tls-resume: one full handshake per request
#   server-close        d. plain Connection: close clients -> HTTPS origin: the pool's TLS
#                          connections serve them all, no server handshake after the warm-up
#   server-close-never  plain close clients -> HTTPS origin, reuse never: one server TLS
#                       handshake per request, resumed from the proxy's session cache
scenario_tls() {
    local variant proxy clients mode want opts
    if [ ! -f "$CERTS/combined.pem" ]; then
        "$BIN/ringway-load" certs --out "$CERTS" >/dev/null
        cat "$CERTS/server.pem" "$CERTS/server.key" >"$CERTS/combined.pem" # HAProxy's crt
    fi
    for variant in $TLS_VARIANTS; do
        clients=keep-alive mode=always opts=() CLIENT_TLS='' SERVER_TLS='' want=http
        case $variant in
            plain-ka) ;;
            client-ka) CLIENT_TLS=$CERTS ;;
            server-ka) SERVER_TLS=$CERTS ;;
            plain-close) clients=close ;;
            client-close) CLIENT_TLS=$CERTS clients=close ;;
            client-close-full) CLIENT_TLS=$CERTS clients=close opts=(--no-tls-resume) ;;
            server-close) SERVER_TLS=$CERTS clients=close ;;
            server-close-never) SERVER_TLS=$CERTS clients=close mode=never ;;
            *) echo "unknown TLS variant $variant (known: $ALL_TLS_VARIANTS)" >&2; exit 2 ;;
        esac
        [ -z "$SERVER_TLS" ] || want=https
        if [ "$ORIGIN_SCHEME" != "$want" ]; then
            origin_stop
            origin_start 0 "$want"
        fi
        VARIANT=$variant
        for proxy in $PROXIES; do
            cell tls "$proxy" "$([ "$proxy" = nginx ] && [ "$mode" != never ] && echo - || echo "$mode")" \
                "$clients" 0 1 "${opts[@]}"
        done
    done
    VARIANT='' CLIENT_TLS='' SERVER_TLS='' WARM_STATS=null
    if [ "$ORIGIN_SCHEME" != http ]; then
        origin_stop
        origin_start 0
    fi
}

# The HTTP/2 rows come from bench/h2.sh as it prints them (a table of their own, not in the
# JSON): its own origins, on ports above ours.
scenario_idle() {
    local largest counts
    largest=$((($(ulimit -Hn) - 200) / 2))
    [ "$largest" -le 9000 ] || largest=9000
    counts=${IDLE_COUNTS:-"$((largest / 3)) $largest"}
    log "idle: bench/idle.sh, COUNTS=\"$counts\""
    NO_BUILD=1 BIN=$BIN ROUNDS=${IDLE_ROUNDS:-1} COUNTS="$counts" FD_RATIO=${FD_RATIO:-90} \
        PORT_BASE=$((PORT_BASE + 200)) PROXIES="ringway haproxy" "$BENCH_DIR/idle.sh" >"$WORK/idle.md"
}

scenario_h2() {
    log "h2: bench/h2.sh"
    NO_BUILD=1 BIN=$BIN DURATION=${DURATION%s} PORT_BASE=$((PORT_BASE + 100)) \
        PROXIES="$PROXIES h2floor" "$BENCH_DIR/h2.sh" >"$WORK/h2.md"
}

# ---------------------------------------------------------------- main

machine_info() {
    local commit dirty=""
    commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    git -C "$ROOT" diff --quiet HEAD 2>/dev/null || dirty=" (with uncommitted changes)"
    jq -n --arg cpu "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" \
        --arg lscpu "$(lscpu)" --arg kernel "$(uname -r)" \
        --arg os "$(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release)" \
        --arg haproxy "$(haproxy -v | head -1)" --arg nginx "$(nginx -v 2>&1)" \
        --arg wrk "$(dpkg-query -W -f '${Version}' wrk 2>/dev/null || echo unknown)" \
        --arg rustc "$(rustc -V 2>/dev/null || echo unknown)" --arg commit "$commit$dirty" \
        --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
        --argjson ncpu "$NCPU" --arg duration "$DURATION" --argjson runs "$RUNS" \
        --argjson connections "$CONNECTIONS" --arg reuse "$REUSE" --arg warmup "$WARMUP" \
        --arg proxy_cpus "$PROXY_CPUS" --arg load_cpu "$LOAD_CPU" --arg spin "$LOAD_SPIN" \
        --arg scenarios "$SCENARIOS" --argjson share "$LATENCY_SHARE" \
        --argjson other_max "$OTHER_MAX" --argjson retries "$RETRIES" \
        --arg tls_variants "$TLS_VARIANTS" --arg openssl "$(openssl version 2>/dev/null || echo unknown)" '{
            cpu: $cpu, cpus: $ncpu, kernel: $kernel, os: $os, haproxy: $haproxy, nginx: $nginx,
            wrk: $wrk, rustc: $rustc, openssl: $openssl, ringway_commit: $commit, date: $date,
            loadavg_at_start: $load, lscpu: $lscpu,
            settings: {duration: $duration, warmup: $warmup, runs: $runs,
                connections: $connections, reuse_for_latency_shards_bodies: $reuse,
                latency_share_of_haproxy_max: $share, proxy_cpus: $proxy_cpus,
                load_and_origin_cpu: $load_cpu, load_spin_rounds: $spin, scenarios: $scenarios,
                other_cpu_max: $other_max, retries: $retries,
                tls_variants: (if ($scenarios | split(" ") | index("tls")) then $tls_variants
                    else null end)}
        }'
}

machine_info >"$WORK/machine.json"
started=$(date +%s)
origin_start 0
for scenario in $SCENARIOS; do
    case $scenario in
        loadgen) scenario_loadgen ;;
        keepalive) scenario_reuse_table keepalive keep-alive ;;
        close) scenario_reuse_table close close ;;
        latency) scenario_latency ;;
        shards) scenario_shards ;;
        bodies) scenario_bodies ;;
        tls) scenario_tls ;;
        idle) scenario_idle ;;
        h2) scenario_h2 ;;
        *) echo "unknown scenario $scenario (known: $ALL_SCENARIOS)" >&2; exit 2 ;;
    esac
done
origin_stop
jq --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" --argjson secs $(($(date +%s) - started)) \
    '. + {loadavg_at_end: $load, wall_seconds: $secs}' "$WORK/machine.json" >"$WORK/machine2.json"

mkdir -p "$OUT"
python3 "$BENCH_DIR/report.py" --raw "$RAW" --machine "$WORK/machine2.json" --out "$OUT" \
    --name "$REPORT"
if [ -s "$WORK/idle.md" ]; then
    printf '\n## Idle keep-alive client connections (bench/idle.sh)\n\n' >>"$OUT/$REPORT.md"
    cat "$WORK/idle.md" >>"$OUT/$REPORT.md"
fi
if [ -s "$WORK/h2.md" ]; then
    printf '\n## HTTP/2 (bench/h2.sh)\n\n' >>"$OUT/$REPORT.md"
    cat "$WORK/h2.md" >>"$OUT/$REPORT.md"
fi
log "done in $(($(date +%s) - started)) s: $OUT/$REPORT.md"
