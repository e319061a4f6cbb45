#!/usr/bin/env bash
# A reload under load: an origin, ringway in front of it (2 shards, http_reuse always), 50
# keep-alive clients and 50 clients that close after every request for DURATION, and RELOADS
# reloads (SIGHUP) along the way, each changing the configuration (a pool setting); with
# SIGNAL=USR2, binary upgrades instead (each a new process on the same sockets). Then what the
# clients saw (requests, errors by kind: 0 expected), what the origin saw (its TCP connections:
# idle server connections survive a reload, so few new ones), and the counters of the generation
# serving at the end. The load check of issue 15.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"
ensure_rust
ensure_pkg curl curl
raise_memlock

DURATION=${DURATION:-12s}
RELOADS=${RELOADS:-10}
SIGNAL=${SIGNAL:-HUP}   # HUP: reloads; USR2: binary upgrades
WINDOW=${WINDOW:-8}     # seconds the reloads are spread over (RELOADS=0: the same window without)
CONNECTIONS=${CONNECTIONS:-50}
FRONTEND_PORT=${FRONTEND_PORT:-18480}
ORIGIN_PORT=${ORIGIN_PORT:-18481}
WORK=$(mktemp -d)
SOCKET=$WORK/ringway.sock

echo "== building (release)"
cargo build --release -q -p ringway -p ringway-load
BIN=target/release

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

write_config() {
    cat >"$WORK/ringway.toml" <<TOML
[global]
shards = 2
pin_shards = false
stats_socket = "$SOCKET"

[[frontend]]
name = "web"
bind = ["127.0.0.1:$FRONTEND_PORT"]
default_backend = "app"

[[backend]]
name = "app"
http_reuse = "always"

[[backend.server]]
name = "s1"
address = "127.0.0.1:$ORIGIN_PORT"
pool_purge_delay = "$1s"
TOML
}

write_config 5
"$BIN/ringway-load" origin --listen "127.0.0.1:$ORIGIN_PORT" --threads 1 >/dev/null &
pids+=($!)
"$BIN/ringway" run -c "$WORK/ringway.toml" 2>"$WORK/ringway.log" &
RINGWAY=$!
pids+=($RINGWAY)
wait_port "$ORIGIN_PORT"
wait_port "$FRONTEND_PORT"
ctl() { "$BIN/ringway" ctl --socket "$SOCKET" "$@"; }
origin_accepted() { curl -s "http://127.0.0.1:$ORIGIN_PORT/__origin/stats" | sed -n 's/.*"accepted":\([0-9]*\).*/\1/p'; }

main_pid() { ctl show info | sed -n 's/^Pid: //p'; }
echo "== load: $CONNECTIONS keep-alive clients and $CONNECTIONS Connection: close clients for $DURATION, $RELOADS x SIG$SIGNAL meanwhile"
"$BIN/ringway-load" run --url "http://127.0.0.1:$FRONTEND_PORT/" --connections "$CONNECTIONS" \
    --duration "$DURATION" --threads 1 --quiet --json "$WORK/keepalive.json" >/dev/null &
KEEPALIVE=$!
"$BIN/ringway-load" run --url "http://127.0.0.1:$FRONTEND_PORT/" --connections "$CONNECTIONS" \
    --duration "$DURATION" --threads 1 --close --quiet --json "$WORK/close.json" >/dev/null &
CLOSE=$!
sleep 1
before=$(origin_accepted)
echo "   server connections the origin accepted before the first reload: $before"
step=$(python3 -c "print($WINDOW / max($RELOADS, 1))")
pid=$RINGWAY
upgraded=0
for ((i = 1; i <= RELOADS; i++)); do
    write_config $((5 + i))
    kill -"$SIGNAL" "$pid"
    sleep "$step"
    if [ "$SIGNAL" = USR2 ]; then
        new=$(main_pid)
        if [ -n "$new" ] && [ "$new" != "$pid" ]; then
            upgraded=$((upgraded + 1))
            pid=$new
        fi
    fi
done
[ "$RELOADS" -gt 0 ] || sleep "$WINDOW"
after=$(origin_accepted)
wait "$KEEPALIVE" "$CLOSE"
echo
for kind in keepalive close; do
    python3 - "$WORK/$kind.json" "$kind" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
errors = ", ".join(f"{k}: {v}" for k, v in report["errors"].items()) or "none"
print(f"   {sys.argv[2]:9} requests {report['requests']:>7}  req/s {report['rps']:>8.0f}  errors {report['errors_total']} ({errors})")
PY
done
echo
if [ "$SIGNAL" = USR2 ]; then
    echo "   upgrades done: $upgraded of $RELOADS (now pid $pid, started as $RINGWAY)"
else
    echo "   reloads done: $(grep -c 'reloaded' "$WORK/ringway.log") of $RELOADS; failed: $(grep -c 'reload failed' "$WORK/ringway.log" || true)"
fi
echo "   server connections the origin accepted in the ${WINDOW} s of the $RELOADS signals: $((after - before)) (before: $before)"
echo
echo "== the generation serving now: show servers conn"
ctl show servers conn verbose
[ "$SIGNAL" != USR2 ] || kill -TERM "$pid" 2>/dev/null || true
