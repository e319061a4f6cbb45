#!/usr/bin/env bash
# Instructions ringway runs in user space per request, counted by valgrind's callgrind (this
# machine has no hardware counters, and instructions do not depend on the load of the machine
# as CPU time does): one shard under callgrind, 50 clients through it for REQUESTS requests
# after a warm-up, the counters zeroed before and dumped after them.
#
#   bench/instructions.sh                          # keep-alive clients, http_reuse safe
#   CLOSE=1 MODE=never bench/instructions.sh       # Connection: close clients
#   RINGWAY=/tmp/base/ringway bench/instructions.sh  # another build (before/after)
#   PROXY=floor bench/instructions.sh              # the byte forwarder (ringway-load forward,
#                                                  # its own spin), for reference
#
# Prints the proxy's instructions per request (every thread: the shard, the control thread),
# its clock reads per request, and the functions with the most per request, inclusive and
# self. The shard runs with spin_rounds = 0 (SPIN to change it): under callgrind a request
# takes ~50 times longer, so the empty harvests of a spin would count for many more
# instructions per request than they do at full speed. Kernel work is not counted (callgrind
# sees user space only). Writes $OUT/instructions-$PROXY-$MODE[-close].txt; KEEP_WORK=1 keeps
# the callgrind.out file, LINES=1 the line tables (below).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

PROXY=${PROXY:-ringway}
MODE=${MODE:-safe}
REQUESTS=${REQUESTS:-20000}
WARMUP=${WARMUP:-2000}
CONNECTIONS=${CONNECTIONS:-50}
SPIN=${SPIN:-0}
PORT_BASE=${PORT_BASE:-28300}
BIN=${BIN:-$ROOT/target/release}
RINGWAY=${RINGWAY:-$BIN/ringway}
OUT=${OUT:-$BENCH_DIR/results}
NCPU=$(nproc)
WORK=$(mktemp -d /tmp/ringway-instructions.XXXXXX)
trap 'cleanup; if [ -n "${KEEP_WORK:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi' EXIT
trap 'exit 130' INT TERM

need_commands valgrind:valgrind jq:jq bc:bc objcopy:binutils python3:python3
ulimit -n "$(ulimit -H -n)"
ulimit -l unlimited 2>/dev/null || true

port=$PORT_BASE origin=$((PORT_BASE + 1))
for p in "$port" "$origin"; do port_free "$p" || exit 2; done
start "$WORK/origin.log" taskset -c 0 "$BIN/ringway-load" origin --listen "127.0.0.1:$origin"
wait_port "$origin"
conf=$(ringway_config "$WORK" "$port" "$origin" "$MODE" 1)
sed -i "s/^\[global\]\$/[global]\nspin_rounds = $SPIN/; s/^pin_shards = true/pin_shards = false/" "$conf"
command=(run -c "$conf")
if [ "$PROXY" = floor ]; then
    RINGWAY=$BIN/ringway-load
    command=(forward --listen "127.0.0.1:$port" --server "127.0.0.1:$origin")
fi
# The binary without its line tables (the symbols stay): with them, callgrind splits each
# function's count by the source file of its inlined lines, and the parts' inclusive counts
# overlap. LINES=1 keeps them, for a look by source line (`callgrind_annotate --auto=yes` on
# the kept file, with KEEP_WORK=1); the per-function figures below are then split.
if [ -n "${LINES:-}" ]; then
    cp "$RINGWAY" "$WORK/ringway"
else
    objcopy --strip-debug "$RINGWAY" "$WORK/ringway"
fi
start "$WORK/proxy.log" taskset -c "$((NCPU - 1))" valgrind --tool=callgrind \
    --callgrind-out-file="$WORK/callgrind.out" "$WORK/ringway" "${command[@]}"
proxy=$LAST_PID
wait_port "$port"

load() { # <requests> <json>
    taskset -c 0 "$BIN/ringway-load" run --url "http://127.0.0.1:$port/" --threads 1 \
        --connections "$CONNECTIONS" --requests "$1" --quiet --json "$2" \
        ${CLOSE:+--close} >/dev/null
}
load "$WARMUP" "$WORK/warmup.json"
callgrind_control -z "$proxy" >/dev/null
load "$REQUESTS" "$WORK/load.json"
callgrind_control -d "$proxy" >/dev/null
requests=$(jq .requests "$WORK/load.json")
stop_pid "$proxy"

# The dump of the measured window (callgrind numbers the dumps it is asked for).
dump=$WORK/callgrind.out.1
mkdir -p "$OUT"
report=$OUT/instructions-$PROXY-$MODE${CLOSE:+-close}.txt
# A function's count (self, or with its callees) divided by the requests.
per_request() { # [--inclusive=yes]
    callgrind_annotate "$@" --auto=no --threshold=100 "$dump" 2>/dev/null | python3 -c '
import re, sys
requests = int(sys.argv[1])
total = {}
for line in sys.stdin:
    match = re.match(r"\s*([\d,]+) \([^)]*\)\s+[^:]*:(.*?)( \[[^]]*\])?$", line)
    if not match or "PROGRAM TOTALS" in line:
        continue
    function = match.group(2)
    # The thread start functions were on the stack when the counters were zeroed: callgrind
    # shows the whole count as their own. Left out.
    if "thread" in function or "backtrace" in function or function in (
            "clone", "core::ops::function::FnOnce::call_once{{vtable.shim}}"):
        continue
    total.setdefault(function, int(match.group(1).replace(",", "")))
for function, count in list(total.items())[:40]:
    print(f"{count / requests:10.0f}  {function[:150]}")
' "$requests"
}
set +o pipefail # head closes the pipes early
{
    echo "# $PROXY $(basename "$(dirname "$RINGWAY")")/$(basename "$RINGWAY"), http_reuse $MODE," \
        "$CONNECTIONS $([ -n "${CLOSE:-}" ] && echo "Connection: close" || echo keep-alive) clients," \
        "spin_rounds $SPIN, $requests requests, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(/,/, "", $1); print $1}')
    echo "instructions per request: $((total / requests))"
    # Clock reads are system calls under valgrind (no vDSO), so not in the count: counted apart.
    clock=$(callgrind_annotate --tree=caller --auto=no --threshold=100 "$dump" 2>/dev/null |
        awk '/^ +[0-9,]+ .* < / { sub(/.*\(/, ""); sub(/x\).*/, ""); gsub(/,/, ""); calls += $0 }
             /\* .*Timespec>::now/ { total = calls }
             /^$/ { calls = 0 }
             END { print total + 0 }')
    echo "clock reads per request: $(echo "scale=2; $clock / $requests" | bc)"
    echo
    echo "## inclusive, per request (top 40)"
    per_request --inclusive=yes
    echo
    echo "## self, per request (top 40)"
    per_request
} >"$report"
cat "$report"
