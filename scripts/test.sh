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
# Tools the observability tests use: promtool checks /metrics, the HAProxy exporter scrapes the
# stats socket, socat sends runtime API commands, rsyslogd receives the syslog access lines. A test skips (saying so) only when its tool is
# missing and cannot be installed.
ensure_pkg promtool prometheus || echo "== promtool unavailable: its test will be skipped"
ensure_pkg prometheus-haproxy-exporter prometheus-haproxy-exporter ||
    echo "== prometheus-haproxy-exporter unavailable: its test will be skipped"
ensure_pkg socat socat || echo "== socat unavailable: the runtime API test uses a UnixStream"
# hatop (HAProxy's curses monitor) runs against ringway's stats socket inside tmux.
ensure_pkg hatop hatop || echo "== hatop unavailable: its test will be skipped"
ensure_pkg tmux tmux || echo "== tmux unavailable: the hatop test will be skipped"
# The PROXY protocol tests run curl --haproxy-protocol and an nginx with listen ... proxy_protocol.
ensure_pkg curl curl || echo "== curl unavailable: its PROXY protocol tests will be skipped"
ensure_pkg nginx nginx-light || echo "== nginx unavailable: its PROXY protocol test will be skipped"
ensure_pkg rsyslogd rsyslog || echo "== rsyslogd unavailable: its logging test will be skipped"

echo "== cargo test"
cargo test --workspace
echo "== codec fuzz (20 s)"
cargo run --release -q -p ringway-http --example fuzz -- 20
echo "== all checks passed"
