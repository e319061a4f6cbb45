#!/usr/bin/env bash
# Where a proxy spends its CPU under keep-alive load: perf samples (cpu-clock, call graphs) of
# the proxy process, and the reschedule interrupts (IPIs) its CPU takes per request.
#
#   bench/profile.sh                    # ringway, http_reuse safe
#   PROXY=haproxy bench/profile.sh      # the same for HAProxy, to compare
#   PROXY=floor bench/profile.sh        # the byte forwarder (ringway-load forward), the floor
#   RATE=30000 bench/profile.sh         # open loop at a fixed rate instead of a closed loop
#   SPIN=0 bench/profile.sh             # ringway with global.spin_rounds = 0
#   CLOSE=1 bench/profile.sh            # clients send Connection: close
#   RINGWAY=/tmp/main/ringway bench/profile.sh   # another ringway binary (before/after)
#   BODY=65536 SPLICE=off bench/profile.sh         # 64 KiB responses; ringway's backend splice
#
# Same pinning and configurations as bench/run.sh. Writes $OUT/profile-$PROXY.txt.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

PROXY=${PROXY:-ringway}
MODE=${MODE:-safe}
SECONDS_SAMPLED=${SECONDS_SAMPLED:-4}
CONNECTIONS=${CONNECTIONS:-50}
NCPU=$(nproc)
LOAD_CPU=${LOAD_CPU:-0}
PROXY_CPU=${PROXY_CPU:-$((NCPU - 1))}
PORT_BASE=${PORT_BASE:-28100}
BIN=${BIN:-$ROOT/target/release}
RINGWAY=${RINGWAY:-$BIN/ringway}
OUT=${OUT:-$BENCH_DIR/results}
WORK=$(mktemp -d /tmp/ringway-profile.XXXXXX)
trap 'cleanup; if [ -n "${KEEP_WORK:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi' EXIT
trap 'exit 130' INT TERM

need_commands perf:linux-perf jq:jq curl:curl taskset:util-linux bc:bc
case $PROXY in haproxy) need_commands haproxy:haproxy ;; nginx) need_commands nginx:nginx-light ;; esac
if ! perf stat -e cpu-clock true >/dev/null 2>&1; then
    echo "perf cannot sample here (kernel.perf_event_paranoid?); try valgrind --tool=callgrind" >&2
    exit 2
fi
[ -n "${NO_BUILD:-}" ] || (cd "$ROOT" && cargo build --release -q -p ringway -p ringway-load)
ulimit -n "$(ulimit -H -n)"
ulimit -l unlimited 2>/dev/null || true

port=$PORT_BASE origin=$((PORT_BASE + 1))
# SO_REUSEPORT would let another run's proxy or origin share these ports, and its load.
for p in "$port" "$origin"; do port_free "$p" || exit 2; done
start "$WORK/origin.log" taskset -c "$LOAD_CPU" "$BIN/ringway-load" origin \
    --listen "127.0.0.1:$origin" --spin-rounds "${LOAD_SPIN:-2}" --body-size "${BODY:-0}"
wait_port "$origin"
case $PROXY in
    ringway)
        conf=$(ringway_config "$WORK" "$port" "$origin" "$MODE" 1)
        [ -z "${SPIN:-}" ] || sed -i "s/^\[global\]\$/[global]\nspin_rounds = $SPIN/" "$conf"
        [ -z "${SPLICE:-}" ] || sed -i "s/^http_reuse = .*/&\nsplice = \"$SPLICE\"/" "$conf"
        start "$WORK/proxy.log" taskset -c "$PROXY_CPU" "$RINGWAY" run -c "$conf" ;;
    haproxy)
        start "$WORK/proxy.log" taskset -c "$PROXY_CPU" haproxy -db \
            -f "$(haproxy_config "$WORK" "$port" "$origin" "$MODE" 1 "$PROXY_CPU")" ;;
    nginx)
        start "$WORK/proxy.log" taskset -c "$PROXY_CPU" nginx -e "$WORK/nginx-error.log" \
            -c "$(nginx_proxy_config "$WORK" "$port" "$origin" 1 "$(nginx_masks "$PROXY_CPU")")" ;;
    floor)
        # The byte forwarder: what the kernel's TCP path alone costs (no HTTP work).
        start "$WORK/proxy.log" taskset -c "$PROXY_CPU" "$BIN/ringway-load" forward \
            --listen "127.0.0.1:$port" --server "127.0.0.1:$origin" ;;
    *) echo "PROXY must be ringway, haproxy, nginx or floor" >&2; exit 2 ;;
esac
main=$LAST_PID
wait_port "$port"
sleep 0.3
read -ra pids <<<"$(process_tree "$main")"

load() { # <duration> <json>
    taskset -c "$LOAD_CPU" "$BIN/ringway-load" run --url "http://127.0.0.1:$port/" --threads 1 \
        --connections "$CONNECTIONS" --duration "$1" --quiet --spin-rounds "${LOAD_SPIN:-2}" --json "$2" \
        ${RATE:+--rate "$RATE"} ${CLOSE:+--close} >/dev/null
}
load 1s "$WORK/warmup.json"

# Reschedule interrupts taken by the proxy CPU: its column in /proc/interrupts' RES line.
res_count() { awk -v col=$((PROXY_CPU + 2)) '$1 == "RES:" {print $col}' /proc/interrupts; }

load "$((SECONDS_SAMPLED + 5))s" "$WORK/load.json" &
loader=$!
sleep 1
r0=$(res_count)
t0=$(cpu_ticks "${pids[@]}")
w0=$(date +%s.%N)
perf record -q -e cpu-clock -F 999 -g -o "$WORK/perf.data" -p "$(echo "${pids[@]}" | tr ' ' ,)" \
    -- sleep "$SECONDS_SAMPLED" >/dev/null 2>&1
t1=$(cpu_ticks "${pids[@]}")
r1=$(res_count)
w1=$(date +%s.%N)
# System calls per request, in a second window of the same run (tracepoints, not sampled).
# Every system call the proxy made, and the reads and accepts that found nothing (EAGAIN).
perf stat -x, -o "$WORK/syscalls.csv" -p "$(echo "${pids[@]}" | tr ' ' ,)" \
    -e raw_syscalls:sys_enter -e 'syscalls:sys_enter_*' \
    -e syscalls:sys_exit_recvfrom --filter 'ret == -11' \
    -e syscalls:sys_exit_accept4 --filter 'ret == -11' \
    -- sleep 1 >/dev/null 2>&1 || true
wait "$loader"
rps=$(jq .rps "$WORK/load.json")

mkdir -p "$OUT"
report=$OUT/profile-$PROXY.txt
set +o pipefail # head closes the pipes early
{
    echo "# $PROXY, http_reuse $MODE,${BODY:+ $BODY-byte bodies,}${SPLICE:+ splice $SPLICE,} $CONNECTIONS $([ -n "${CLOSE:-}" ] && echo "Connection: close" || echo keep-alive) clients${RATE:+ at $RATE req/s}${SPIN:+, spin_rounds $SPIN}, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "# proxy on CPU $PROXY_CPU, origin and load generator on CPU $LOAD_CPU"
    jq -rn --argjson rps "$rps" --argjson t $((t1 - t0)) --argjson hz "$(getconf CLK_TCK)" \
        --argjson s "$(echo "$w1 - $w0" | bc -l)" --argjson res $((r1 - r0)) '
        "requests/s \($rps | floor); CPU \($t / $hz / $s * 100 | round)% of one CPU, " +
        "\($t / $hz / ($rps * $s) * 1e6 * 100 | round / 100) us per request; " +
        "reschedule IPIs on the proxy CPU: \($res / ($rps * $s) * 100 | round / 100) per request"'
    jq -r '.latency_us | "latency (us): p50 \(.p50)  p99 \(.p99)  p99.9 \(.p999)  max \(.max)"' \
        "$WORK/load.json"
    echo
    # Keep-alive: divided by the run's requests per second. Close clients: by the connections
    # accepted in the window (one per request), which does not depend on the window's length.
    echo "## system calls per request (one second after the sampled window;" \
        "$([ -n "${CLOSE:-}" ] && echo "per accepted connection" || echo "per request at the run's rate"))"
    awk -F, -v rps="$rps" -v closing="${CLOSE:-}" '$3 ~ /syscalls/ {
        name = $3; sub(/^(raw_)?syscalls:sys_/, "", name)
        if (name == "enter") name = "all system calls"
        else if (name == "exit_recvfrom") name = "recvfrom returning EAGAIN"
        else if (name == "exit_accept4") name = "accept4 returning EAGAIN"
        else sub(/enter_/, "", name)
        count[name] = $1 + 0 }
        END {
            per = rps
            if (closing != "") per = count["accept4"] - count["accept4 returning EAGAIN"]
            if (per <= 0) per = 1
            for (name in count) if (count[name] > 0) printf "%.2f %s\n", count[name] / per, name
        }' "$WORK/syscalls.csv" | sort -rn |
        awk '{ v = $1; $1 = ""; printf "    %-28s %6.2f\n", substr($0, 2), v }'
    echo
    echo "## where the samples are, by DSO"
    perf report -i "$WORK/perf.data" --no-children --sort dso --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -6
    echo
    echo "## self time, top 30 symbols"
    perf report -i "$WORK/perf.data" --no-children --sort sym --stdio -g none 2>/dev/null |
        grep -E '^ +[0-9]' | head -30
    echo
    echo "## time including callees: system calls and the work they trigger"
    perf report -i "$WORK/perf.data" --children --sort sym --stdio -g none 2>/dev/null |
        grep -E '^ +[0-9]' | grep -E 'sys_|softirq|sock_def_readable|wake|task_work|sysvec|io_uring|epoll' | head -25
    echo
    echo "## the hottest kernel symbol, by call chain"
    top=$(perf report -i "$WORK/perf.data" --no-children --sort sym --stdio -g none 2>/dev/null |
        grep -E '^ +[0-9]' | head -1 | awk '{print $3}')
    perf report -i "$WORK/perf.data" --no-children --sort sym --stdio -G -S "$top" 2>/dev/null |
        grep -vE '^(#|$)' | head -45
    echo
    echo "## user-space symbols of the proxy, top 25"
    perf report -i "$WORK/perf.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null |
        grep -E '^ +[0-9]' | grep -v kernel | head -25
} >"$report"
cat "$report"
