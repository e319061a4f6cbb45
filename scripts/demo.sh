#!/usr/bin/env bash
# The main job on the bundled defaults: an origin, ringway in front of it (config/ringway.toml,
# http_reuse always), a short load from clients that close after every request and from
# keep-alive clients, then the numbers that explain server-side reuse.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"
ensure_rust
ensure_pkg curl curl
raise_memlock

CONFIG=${CONFIG:-config/ringway.toml}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-50}
SOCKET=$(sed -n 's/^stats_socket *= *"\(.*\)".*/\1/p' "$CONFIG")
FRONTEND_PORT=8080
ORIGIN_PORT=8081

echo "== building (release)"
cargo build --release -q -p ringway -p ringway-load
BIN=target/release

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "== origin on 127.0.0.1:$ORIGIN_PORT, ringway on 127.0.0.1:$FRONTEND_PORT ($CONFIG)"
"$BIN/ringway-load" origin --listen "127.0.0.1:$ORIGIN_PORT" --threads 1 &
pids+=($!)
"$BIN/ringway" run -c "$CONFIG" &
pids+=($!)
wait_port "$ORIGIN_PORT"
wait_port "$FRONTEND_PORT"

ctl() { "$BIN/ringway" ctl --socket "$SOCKET" "$@"; }
# Picks columns of `show stat` by name: stat_columns <col>...
stat_columns() {
    ctl show stat | awk -F, -v want="$*" '
        NR == 1 { sub(/^# /, ""); n = split(want, cols, " "); for (i = 1; i <= NF; i++) idx[$i] = i;
                  line = sprintf("%-10s %-9s", "pxname", "svname"); for (c = 1; c <= n; c++) line = line sprintf(" %10s", cols[c]); print line; next }
        NF > 2  { line = sprintf("%-10s %-9s", $1, $2); for (c = 1; c <= n; c++) line = line sprintf(" %10s", $(idx[cols[c]])); print line }'
}

echo
echo "== load 1: $CONNECTIONS clients that close after every request (Connection: close), $DURATION"
"$BIN/ringway-load" run --url "http://127.0.0.1:$FRONTEND_PORT/" --connections "$CONNECTIONS" --duration "$DURATION" --close
echo
echo "== what the proxy saw: client connections (conn_tot) vs requests (stot) vs new server connections (connect)"
stat_columns conn_tot req_tot stot connect reuse srv_icur used_conn_cur
echo
echo "== load 2: $CONNECTIONS keep-alive clients, $DURATION"
"$BIN/ringway-load" run --url "http://127.0.0.1:$FRONTEND_PORT/" --connections "$CONNECTIONS" --duration "$DURATION"
echo
stat_columns conn_tot req_tot stot connect reuse srv_icur used_conn_cur
echo
echo "== show servers conn: idle connections kept per shard (idle_per_thr), the estimate of need (need_est)"
ctl show servers conn
echo
echo "== the origin's own count: TCP connections it accepted (= connect) and requests it served (= stot)"
curl -s "http://127.0.0.1:$ORIGIN_PORT/__origin/stats" | grep -o '"accepted":[0-9]*,"requests":[0-9]*' | tr ',' ' '
cat <<'TEXT'

How to read it:
  conn_tot (FRONTEND)  client TCP connections accepted by ringway
  stot / req_tot       HTTP requests (HAProxy calls them sessions; they are not connections)
  connect (s1)         new TCP connections ringway opened to the server
  reuse (s1)           requests sent on a server connection that had already carried one
  reuse ratio          reuse / (connect + reuse)
With http_reuse = "always", thousands of closing clients ride a handful of server connections:
connect stays near the client concurrency while stot grows with every request.
TEXT
