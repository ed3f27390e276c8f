#!/usr/bin/env bash
# Start (or stop) N SSH test hosts for the benchmark: sshd instances on this machine, each on its own
# loopback address 127.0.0.<2..N+1> port 2222, reached with a key generated here. Traffic stays on loopback.
#   bash bench/ssh_hosts.sh start N DIR   -> writes DIR/inventory.ini
#   bash bench/ssh_hosts.sh stop DIR
set -euo pipefail

start() {
    local count="$1" dir="$2" i addr
    if ! command -v /usr/sbin/sshd >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null
    fi
    mkdir -p "$dir" /run/sshd
    chmod 700 "$dir"
    [[ -f "$dir/id_ed25519" ]] || ssh-keygen -q -t ed25519 -N '' -f "$dir/id_ed25519"
    [[ -f "$dir/host_ed25519" ]] || ssh-keygen -q -t ed25519 -N '' -f "$dir/host_ed25519"
    cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
    : >"$dir/inventory.ini"
    for ((i = 1; i <= count; i++)); do
        addr="127.0.0.$((i + 1))"
        cat >"$dir/sshd-$i.conf" <<CONF
ListenAddress $addr:2222
HostKey $dir/host_ed25519
PidFile $dir/sshd-$i.pid
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxSessions 100
MaxStartups 100:30:200
CONF
        /usr/sbin/sshd -f "$dir/sshd-$i.conf"
        printf 'host%d ansible_host=%s ansible_port=2222 ansible_user=%s ansible_ssh_private_key_file=%s ansible_python_interpreter=/usr/bin/python3 ansible_ssh_common_args="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"\n' \
            "$i" "$addr" "$(id -un)" "$dir/id_ed25519" >>"$dir/inventory.ini"
    done
    echo "$dir/inventory.ini"
}

stop() {
    local dir="$1" pidfile
    for pidfile in "$dir"/sshd-*.pid; do
        if [[ -f "$pidfile" ]]; then
            kill "$(cat "$pidfile")" 2>/dev/null || true
        fi
    done
}

case "${1:-}" in
    start) start "${2:?count}" "${3:?dir}" ;;
    stop) stop "${2:?dir}" ;;
    *) echo "usage: $0 start N DIR | stop DIR" >&2; exit 2 ;;
esac
