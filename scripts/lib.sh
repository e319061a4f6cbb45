# Shared by the scripts: make sure the Rust toolchain and the system limits glommio needs are there.

repo_root() { cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd; }

ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        echo "== installing the Rust toolchain (rustup)"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    if command -v rustup >/dev/null 2>&1; then
        rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
        rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
    fi
}

# io_uring rings are locked memory; raise the soft limit as far as the hard one allows.
raise_memlock() {
    ulimit -l unlimited 2>/dev/null || ulimit -l "$(ulimit -H -l)" 2>/dev/null || true
}

# Whether a command is on PATH or in /usr/sbin, /usr/bin (where the tests look too).
has_command() {
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]
}

# Installs Debian packages when a command is missing: ensure_pkg <command> <package>...
# Fails when the command is still missing afterwards.
ensure_pkg() {
    local command=$1
    shift
    has_command "$command" && return 0
    echo "== installing $*"
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
    else
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
    fi
    has_command "$command" || {
        echo "== $command is still missing after installing $*" >&2
        return 1
    }
}

# Waits until a TCP port accepts connections: wait_port <port> [seconds]
wait_port() {
    local port=$1 seconds=${2:-20} i
    for ((i = 0; i < seconds * 20; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "port $port did not open within ${seconds}s" >&2
    return 1
}
