#!/usr/bin/env bash
# Client errors while a server dies (issue 16's targets), measured with ringway-load:
#   checks      health checks every 200 ms, fall 2, no redispatch: errors only while the
#               checks detect the dead server (≤ fall × interval), then 0;
#   redispatch  the same with `redispatch = true`: only requests the server had already
#               accepted when it died fail (a connect failure goes to the other server);
#   dead        one of the two servers dead from the start, checks and redispatch: 0 errors.
# Two ringway-load origins behind ringway (one shard per core); an open-loop load at RATE
# requests/s runs 4 s, one origin is killed after 1 s; a second load of 3 s then measures the
# errors once the server is DOWN. Prints one line per case; JSON reports in $WORK.
#
#   bench/health-window.sh             # builds in release mode unless NO_BUILD=1
#   RATE=2000 PORT_BASE=29100 bench/health-window.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
trap cleanup EXIT

RATE=${RATE:-2000}
PORT_BASE=${PORT_BASE:-29100}
PROXY_PORT=$PORT_BASE
ORIGIN_A=$((PORT_BASE + 1))
ORIGIN_B=$((PORT_BASE + 2))
WORK=${WORK:-$(mktemp -d /tmp/ringway-health-window.XXXXXX)}
BIN=$ROOT/target/release

for port in "$PROXY_PORT" "$ORIGIN_A" "$ORIGIN_B"; do port_free "$port"; done
if [ -z "${NO_BUILD:-}" ]; then
    log "building ringway and ringway-load (release)"
    (cd "$ROOT" && cargo build --release -q -p ringway -p ringway-load)
fi
ulimit -n "$(ulimit -H -n)"
ulimit -l unlimited 2>/dev/null || true

# The errors_total field of a ringway-load JSON report.
errors_of() { sed -n 's/.*"errors_total": *\([0-9]*\).*/\1/p' "$1" | head -1; }
requests_of() { sed -n 's/.*"requests": *\([0-9]*\).*/\1/p' "$1" | head -1; }

run_case() { # <name> <redispatch true|false> <kill | dead>
    local name=$1 redispatch=$2 how=$3 config=$WORK/$1.toml socket=$WORK/$1.sock
    cat >"$config" <<EOF
[global]
shards = 0
stats_socket = "$socket"
[defaults]
timeout_connect = "1s"
retries = 0
[[frontend]]
name = "web"
bind = ["127.0.0.1:$PROXY_PORT"]
default_backend = "app"
[[backend]]
name = "app"
redispatch = $redispatch
health_check = { kind = "tcp", interval = "200ms", timeout = "100ms", rise = 2, fall = 2 }
[[backend.server]]
name = "a"
address = "127.0.0.1:$ORIGIN_A"
check = true
[[backend.server]]
name = "b"
address = "127.0.0.1:$ORIGIN_B"
check = true
EOF
    start "$WORK/$name-origin-a.log" "$BIN/ringway-load" origin --listen "127.0.0.1:$ORIGIN_A" --threads 1
    local origin_b=''
    if [ "$how" = kill ]; then
        start "$WORK/$name-origin-b.log" "$BIN/ringway-load" origin --listen "127.0.0.1:$ORIGIN_B" --threads 1
        origin_b=$LAST_PID
        wait_port "$ORIGIN_B"
    fi
    start "$WORK/$name-ringway.log" "$BIN/ringway" run -c "$config"
    local proxy=$LAST_PID
    wait_port "$ORIGIN_A" && wait_port "$PROXY_PORT"
    local url=http://127.0.0.1:$PROXY_PORT/
    "$BIN/ringway-load" run --url "$url" --rate "$RATE" --connections 20 --threads 1 \
        --duration 4s --json "$WORK/$name-during.json" >"$WORK/$name-during.txt" 2>&1 &
    local load=$!
    sleep 1
    local killed down status
    killed=$(date +%s%N)
    [ -n "$origin_b" ] && stop_pid "$origin_b"
    for _ in $(seq 1 400); do
        status=$("$BIN/ringway" ctl --socket "$socket" show stat | awk -F, '$1=="app" && $2=="b" {print $18}')
        [ "$status" = DOWN ] && break
        sleep 0.005
    done
    down=$(date +%s%N)
    wait "$load"
    "$BIN/ringway-load" run --url "$url" --rate "$RATE" --connections 20 --threads 1 \
        --duration 3s --json "$WORK/$name-after.json" >"$WORK/$name-after.txt" 2>&1
    printf '%-11s detected in %4d ms (%s)  errors during: %4s of %6s  after DOWN: %s of %s\n' \
        "$name" $(((down - killed) / 1000000)) "$status" \
        "$(errors_of "$WORK/$name-during.json")" "$(requests_of "$WORK/$name-during.json")" \
        "$(errors_of "$WORK/$name-after.json")" "$(requests_of "$WORK/$name-after.json")"
    stop_pid "$proxy"
    cleanup
}

log "rate $RATE req/s, results in $WORK"
run_case checks false kill
run_case redispatch true kill
run_case dead true dead
