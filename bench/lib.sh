# shellcheck shell=bash
# Helpers for bench/run.sh: packages, processes, proxy configurations, counters.
# Sourced, not run. Every process started here is recorded in PIDS and stopped by cleanup.

PIDS=()

log() { printf '== %s\n' "$*" >&2; }

# Installs the Debian packages whose command is missing, with one apt-get update:
# need_commands "haproxy:haproxy" "nginx:nginx-light" ...
need_commands() {
    local want=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || want+=("${pair#*:}")
    done
    [ ${#want[@]} -eq 0 ] && return 0
    log "installing ${want[*]}"
    local sudo=
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${want[@]}" >/dev/null
}

# Starts a command in the background and records its pid: start <logfile> <command>...
start() {
    local logfile=$1
    shift
    "$@" >"$logfile" 2>&1 &
    PIDS+=($!)
    # shellcheck disable=SC2034 # read by the callers
    LAST_PID=$!
}

# Stops one process we started (TERM, then KILL after 5 s) and forgets it: stop_pid <pid>
stop_pid() {
    local pid=$1 i keep=()
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for i in "${PIDS[@]}"; do [ "$i" = "$pid" ] || keep+=("$i"); done
    PIDS=("${keep[@]}")
}

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    sleep 0.3
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    PIDS=()
}

# Waits until a TCP port on 127.0.0.1 accepts connections: wait_port <port>
wait_port() {
    local i
    for ((i = 0; i < 200; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "port $1 did not open within 10 s" >&2
    return 1
}

# Fails if something already listens on the port: port_free <port>
port_free() {
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
        echo "port $1 is in use; set PORT_BASE to another range" >&2
        return 1
    fi
}

# CPU time (user + system, clock ticks) of processes, from /proc/PID/stat fields 14 and 15.
# Threads, io_uring workers included, are part of their process's figures: cpu_ticks <pid>...
cpu_ticks() {
    local total=0 pid line fields
    for pid in "$@"; do
        read -r line <"/proc/$pid/stat" || continue
        read -ra fields <<<"${line##*) }" # fields[0] is field 3 (state)
        total=$((total + fields[11] + fields[12]))
    done
    echo "$total"
}

# CPU time of the whole machine (clock ticks) from /proc/stat: busy (user, nice, system, irq,
# softirq) and steal (taken by the hypervisor). machine_ticks prints "busy steal".
machine_ticks() {
    local user nice system irq softirq steal
    read -r _ user nice system _ _ irq softirq steal _ </proc/stat
    echo "$((user + nice + system + irq + softirq)) $steal"
}

# The same sum taken over every thread of one process (/proc/PID/task/*/stat): task_ticks <pid>
task_ticks() {
    local total=0 file line fields
    for file in /proc/"$1"/task/*/stat; do
        read -r line <"$file" || continue
        read -ra fields <<<"${line##*) }"
        total=$((total + fields[11] + fields[12]))
    done
    echo "$total"
}

# A process and its children (nginx: master and workers): process_tree <pid>
process_tree() {
    local children
    children=$(pgrep -P "$1" | tr '\n' ' ' || true)
    echo "$1 $children"
}

# One runtime API command over a unix socket: stats_cmd <socket> <command>
stats_cmd() { echo "$2" | socat -t 2 stdio "UNIX-CONNECT:$1"; }

# The `connect` column (new server connections) of server BACKEND/SERVER in `show stat`:
# server_connects <socket> [backend] [server]
server_connects() {
    stats_cmd "$1" "show stat" | awk -F, -v px="${2:-app}" -v sv="${3:-s1}" '
        NR == 1 { sub(/^# /, ""); for (i = 1; i <= NF; i++) col[$i] = i; next }
        $1 == px && $2 == sv { print $(col["connect"]) + 0; found = 1 }
        END { if (!found) print "null" }'
}

# Origin counters without the per-connection map: origin_stats <port> [http | https]
# (an HTTPS origin serves its stats over HTTPS only; its tls_* counters are null over HTTP).
origin_stats() {
    curl -sk --max-time 10 "${2:-http}://127.0.0.1:$1/__origin/stats" |
        jq -c '{accepted, requests, open, open_max, tls_handshakes, tls_resumed, tls_failed}'
}
origin_reset() { curl -sk --max-time 10 -o /dev/null "${2:-http}://127.0.0.1:$1/__origin/reset"; }

# ---- proxy configurations; each writer prints the path of the file it wrote ----

# The TLS arguments of the three writers below: [client certs] [server CA], each a directory of
# `ringway-load certs` (ca.pem, server.pem, server.key, combined.pem) or empty for plain HTTP.
# client certs: the proxy terminates HTTPS from the clients with server.pem/server.key.
# server CA: the proxy speaks HTTPS to the origin and verifies its chain against ca.pem.

# ringway_config <dir> <port> <origin port> <http_reuse> <shards> [client certs] [server CA]
ringway_config() {
    local file="$1/ringway.toml" front_tls="" server_tls=""
    [ -z "${6:-}" ] ||
        front_tls="tls = { certs = [{ cert = \"$6/server.pem\", key = \"$6/server.key\" }] }"
    [ -z "${7:-}" ] || server_tls="tls = { verify = \"required\", ca_file = \"$7/ca.pem\" }"
    cat >"$file" <<EOF
[global]
shards = $5
pin_shards = true
max_conn = 9000
stats_socket = "$1/ringway.sock"

[defaults]
timeout_connect = "5s"
timeout_client = "30s"
timeout_server = "30s"
timeout_http_request = "10s"
timeout_http_keep_alive = "10s"
timeout_queue = "5s"
retries = 3

[[frontend]]
name = "web"
bind = ["127.0.0.1:$2"]
default_backend = "app"
$front_tls

[[backend]]
name = "app"
balance = "roundrobin"
http_reuse = "$4"

[[backend.server]]
name = "s1"
address = "127.0.0.1:$3"
pool_max_conn = -1
pool_low_conn = 0
pool_purge_delay = "5s"
$server_tls
EOF
    echo "$file"
}

# haproxy_config <dir> <port> <origin port> <http-reuse> <threads> <cpus for cpu-map>
#     [client certs] [server CA]
haproxy_config() {
    local file="$1/haproxy.cfg" front_tls="" server_tls=""
    [ -z "${7:-}" ] || front_tls=" ssl crt $7/combined.pem"
    [ -z "${8:-}" ] || server_tls=" ssl verify required ca-file $8/ca.pem"
    cat >"$file" <<EOF
global
    nbthread $5
    cpu-map auto:1/1-$5 $6
    maxconn 9000
    stats socket $1/haproxy.sock level admin

defaults
    mode http
    option http-keep-alive
    option forwardfor
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    timeout http-keep-alive 10s
    timeout queue 5s
    retries 3

frontend web
    bind 127.0.0.1:$2$front_tls
    default_backend app

backend app
    balance roundrobin
    http-reuse $4
    server s1 127.0.0.1:$3 pool-max-conn -1 pool-low-conn 0 pool-purge-delay 5s$server_tls
EOF
    echo "$file"
}

# nginx_proxy_config <dir> <port> <origin port> <workers> <affinity masks>
#     [client certs] [server CA] [upstream keep-alive: on | off]
# nginx 1.22's defaults leave TLS 1.3 out of ssl_protocols and proxy_ssl_protocols, and its
# session cache off: both are set here to match ringway and HAProxy (TLS 1.2 and 1.3, session
# cache and tickets on both sides). nginx checks the origin's name (proxy_ssl_name, no SNI
# sent) where the other two check the chain only: a name check costs next to nothing.
nginx_proxy_config() {
    local file="$1/nginx-proxy.conf" listen_tls="" front_tls="" scheme=http server_tls=""
    local keepalive="keepalive 64;
        keepalive_requests 1000000;
        keepalive_timeout 60s;"
    [ "${8:-on}" = on ] || keepalive="# no upstream keep-alive: a new server connection per request"
    if [ -n "${6:-}" ]; then
        listen_tls=" ssl"
        front_tls="ssl_certificate $6/server.pem;
        ssl_certificate_key $6/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:10m;
        ssl_session_tickets on;"
    fi
    if [ -n "${7:-}" ]; then
        scheme=https
        server_tls="proxy_ssl_verify on;
            proxy_ssl_trusted_certificate $7/ca.pem;
            proxy_ssl_name localhost;
            proxy_ssl_server_name off;
            proxy_ssl_protocols TLSv1.2 TLSv1.3;
            proxy_ssl_session_reuse on;"
    fi
    cat >"$file" <<EOF
worker_processes $4;
worker_cpu_affinity $5;
worker_rlimit_nofile 20000;
daemon off;
pid $1/nginx-proxy.pid;
error_log $1/nginx-proxy-error.log error;
events { worker_connections 9000; }
http {
    access_log off;
    client_header_timeout 10s;
    client_body_timeout 30s;
    send_timeout 30s;
    keepalive_timeout 10s;
    keepalive_requests 1000000;
    client_body_temp_path $1/nginx-body;
    proxy_temp_path $1/nginx-proxy-temp;
    upstream app {
        server 127.0.0.1:$3;
        $keepalive
    }
    server {
        listen 127.0.0.1:$2$listen_tls reuseport backlog=4096;
        $front_tls
        location / {
            proxy_pass $scheme://app;
            $server_tls
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_connect_timeout 5s;
            proxy_send_timeout 30s;
            proxy_read_timeout 30s;
            # Responses up to 128 KiB stay in memory: no temp files.
            proxy_buffer_size 16k;
            proxy_buffers 8 16k;
            proxy_max_temp_file_size 0;
        }
    }
}
EOF
    echo "$file"
}

# nginx answering every request itself (200, empty body): the target of the load-generator
# comparison. nginx_static_config <dir> <port> <affinity mask>
nginx_static_config() {
    local file="$1/nginx-static.conf"
    cat >"$file" <<EOF
worker_processes 1;
worker_cpu_affinity $3;
worker_rlimit_nofile 20000;
daemon off;
pid $1/nginx-static.pid;
error_log $1/nginx-static-error.log error;
events { worker_connections 9000; }
http {
    access_log off;
    keepalive_timeout 10s;
    keepalive_requests 1000000;
    client_body_temp_path $1/nginx-body;
    server {
        listen 127.0.0.1:$2 reuseport backlog=4096;
        location / { return 200 ""; }
    }
}
EOF
    echo "$file"
}

# nginx's worker_cpu_affinity masks for a CPU list such as "1" or "0 1": nginx_masks <cpu>...
nginx_masks() {
    local out=() cpu mask i
    for cpu in "$@"; do
        mask=1
        for ((i = 0; i < cpu; i++)); do mask="${mask}0"; done
        out+=("$mask")
    done
    echo "${out[*]}"
}
