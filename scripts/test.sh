#!/usr/bin/env bash
# Every check CI runs: formatting, clippy with warnings as errors, and the whole test suite.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"
ensure_rust
raise_memlock

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
# Every external tool a test runs, as Debian packages (installed when missing; the script stops
# if one cannot be): promtool checks /metrics, the HAProxy exporter scrapes the stats socket,
# socat sends runtime API commands, hatop runs in tmux against the stats socket, haproxy (with
# halog) runs beside ringway, curl and nginx speak the PROXY protocol, rsyslogd receives the
# syslog access lines, python3 is a misbehaving origin, systemd-analyze checks the unit file,
# h2load drives the HTTP/2 test origin.
ensure_pkg promtool prometheus
ensure_pkg prometheus-haproxy-exporter prometheus-haproxy-exporter
ensure_pkg socat socat
ensure_pkg hatop hatop
ensure_pkg tmux tmux
ensure_pkg haproxy haproxy
ensure_pkg halog haproxy
ensure_pkg curl curl
ensure_pkg nginx nginx-light
ensure_pkg rsyslogd rsyslog
ensure_pkg python3 python3
ensure_pkg systemd-analyze systemd
ensure_pkg h2load nghttp2-client
# python3-h2 (hyperframe, hpack) has no command to look for: the raw-frame HTTP/2 abuse client
# (tests/h2/abuse.py) imports it, from Debian's interpreter.
if ! /usr/bin/python3 -c 'import h2' 2>/dev/null; then
    echo "== installing python3-h2"
    sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-h2
fi
# Under this variable a test whose tool is missing fails instead of skipping (tests/support).
export RINGWAY_REQUIRE_TOOLS=1

echo "== cargo test"
cargo test --workspace
echo "== codec fuzz (20 s)"
cargo run --release -q -p ringway-http --example fuzz -- 20
echo "== all checks passed"
