#!/usr/bin/env bash
# Test hosts for the benchmark, molecule and the chaos suite: podman containers built here from
# debootstrap images of Debian (no registry needed), reached over real SSH on 127.0.0.1 ports.
# Containers use the host's network namespace (--network host) and sshd listens on 127.0.0.1 only,
# so no traffic ever goes over podman's bridge or leaves loopback.
#
#   bash scripts/test_hosts.sh image SUITE                     build once (cached), print the image name
#   bash scripts/test_hosts.sh start DIR NAME:SUITE:PORT ...   start hosts, write DIR/inventory.ini
#   bash scripts/test_hosts.sh stop DIR                        remove the containers started into DIR
#
# SUITE is a Debian suite (bookworm, trixie, bullseye). Images contain python3, python3-apt (for the apt
# examples of the docs, run offline against a local repository), openssh-server, sudo and a user "asyncops"
# with passwordless sudo, for become tests. Each container also has a 256 KiB tmpfs
# on /mnt/small (for full-disk tests) and its sshd can be stopped and restarted (see write_sshd_script).
# PID 1 of each container is an init that reaps orphans (podman --init with catatonit or tini-static from
# Debian's packages; see init_binary): jobs' supervisors and sshd daemonize, so their processes end
# up as children of PID 1, and a PID 1 that never waits (a plain sleep) piles up zombies.
#
# Environment:
#   ASYNCOPS_IMAGE_<SUITE>   use this image instead of building one (e.g. ASYNCOPS_IMAGE_BOOKWORM=
#                            registry.example.com/debian-sshd:12); it needs python3, sshd and sudo (and
#                            python3-apt for the docs' apt examples)
#   ASYNCOPS_DEBIAN_MIRROR   Debian mirror for debootstrap (default http://deb.debian.org/debian)
#   ASYNCOPS_IMAGE_CACHE     where root file systems are built (default ~/.cache/asyncops-jobs/images)
set -euo pipefail

IMAGE_REPO="localhost/asyncops-jobs-debian"
# bump when the image recipe below changes: a new tag forces a rebuild
IMAGE_RECIPE="r2"
MIRROR="${ASYNCOPS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CACHE="${ASYNCOPS_IMAGE_CACHE:-$HOME/.cache/asyncops-jobs/images}"
PACKAGES="python3,python3-apt,openssh-server,sudo,procps"
TEST_USER="asyncops"
PODMAN_CONF="/etc/containers/containers.conf"

die() {
    echo "test_hosts.sh: $*" >&2
    exit 1
}

# The init that podman --init bind-mounts into each container as its PID 1 (it must be static, or
# at least run on every suite's libc: catatonit and tini-static are static). Prints its path.
init_binary() {
    local candidate
    for candidate in /usr/libexec/podman/catatonit /usr/bin/catatonit /usr/bin/tini-static; do
        if [[ -x "$candidate" ]]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

install_tools() {
    local missing=()
    command -v podman >/dev/null 2>&1 || missing+=(podman)
    command -v runc >/dev/null 2>&1 || missing+=(runc)
    command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
    command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
    init_binary >/dev/null || missing+=(catatonit)
    if ((${#missing[@]})); then
        echo "installing ${missing[*]} from Debian's packages" >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
    fi
}

image_override() {
    local var
    var="ASYNCOPS_IMAGE_$(tr '[:lower:]' '[:upper:]' <<<"$1")"
    printf '%s' "${!var:-}"
}

# podman on these machines cannot set rlimits or use systemd cgroups: runs fail until
# containers.conf sets ulimits, cgroupfs and runc. Only written when a trial run fails.
ensure_podman_runs() {
    local image="$1"
    if podman run --rm --network none "$image" true >/dev/null 2>&1; then
        return 0
    fi
    echo "podman cannot run containers with its current settings: writing $PODMAN_CONF" >&2
    mkdir -p "$(dirname "$PODMAN_CONF")"
    if [[ -f "$PODMAN_CONF" && ! -f "$PODMAN_CONF.asyncops-orig" ]]; then
        cp -a "$PODMAN_CONF" "$PODMAN_CONF.asyncops-orig"
    fi
    cat >"$PODMAN_CONF" <<'CONF'
# written by asyncops.jobs scripts/test_hosts.sh (the previous file, if any: containers.conf.asyncops-orig)
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
CONF
    podman run --rm --network none "$image" true >/dev/null ||
        die "podman still cannot run $image with $PODMAN_CONF; see 'podman run --rm $image true'"
}

build_rootfs() {
    local suite="$1" rootfs="$2"
    rm -rf "$rootfs" "$rootfs.partial"
    mkdir -p "$(dirname "$rootfs")"
    echo "debootstrap $suite from $MIRROR (a minute or two)" >&2
    debootstrap --variant=minbase --include="$PACKAGES" "$suite" "$rootfs.partial" "$MIRROR" \
        >"$rootfs.log" 2>&1 || die "debootstrap of $suite failed, see $rootfs.log"
    chroot "$rootfs.partial" useradd --create-home --shell /bin/bash "$TEST_USER"
    echo "$TEST_USER ALL=(ALL) NOPASSWD:ALL" >"$rootfs.partial/etc/sudoers.d/$TEST_USER"
    chmod 0440 "$rootfs.partial/etc/sudoers.d/$TEST_USER"
    mkdir -p "$rootfs.partial/root/.ssh" "$rootfs.partial/run/sshd"
    chmod 0700 "$rootfs.partial/root/.ssh"
    rm -rf "$rootfs.partial/var/lib/apt/lists/"* "$rootfs.partial/var/cache/apt/"*.bin
    mv "$rootfs.partial" "$rootfs"
}

cmd_image() {
    local suite="$1" override image rootfs
    override="$(image_override "$suite")"
    if [[ -n "$override" ]]; then
        podman image exists "$override" || podman pull "$override" >&2
        ensure_podman_runs "$override"
        echo "$override"
        return
    fi
    image="$IMAGE_REPO:$suite-$IMAGE_RECIPE"
    if ! podman image exists "$image"; then
        rootfs="$CACHE/$suite-$IMAGE_RECIPE"
        [[ -x "$rootfs/usr/sbin/sshd" ]] || build_rootfs "$suite" "$rootfs"
        tar -C "$rootfs" --numeric-owner -c . |
            podman import --change 'CMD ["/usr/sbin/sshd", "-D", "-e"]' - "$image" >/dev/null
        echo "built $image" >&2
    fi
    ensure_podman_runs "$image"
    echo "$image"
}

wait_for_ssh() {
    local dir="$1" port="$2" name="$3" i
    for ((i = 0; i < 100; i++)); do
        if ssh -q -i "$dir/id_ed25519" -p "$port" -o BatchMode=yes -o ConnectTimeout=2 \
            -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null root@127.0.0.1 true 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    podman logs "$name" >&2 || true
    die "sshd of $name did not answer on 127.0.0.1:$port within 20s"
}

# Mounted into every container as /usr/local/sbin/asyncops-sshd PORT: starts sshd (daemonized) on
# 127.0.0.1:PORT. The container's main process is a sleep under the init (not sshd), so sshd can be
# stopped and started again (podman exec NAME pkill -x sshd / podman exec NAME asyncops-sshd PORT)
# while jobs go on; the init reaps the stopped sshd like every other orphan.
write_sshd_script() {
    cat >"$1/asyncops-sshd" <<'SCRIPT'
#!/bin/sh
mkdir -p /run/sshd
exec /usr/sbin/sshd -e -o ListenAddress=127.0.0.1 -o Port="$1" -o PermitRootLogin=prohibit-password \
    -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no -o UsePAM=no -o StrictModes=no \
    -o MaxSessions=100 -o MaxStartups=100:30:200
SCRIPT
    chmod 0755 "$1/asyncops-sshd"
}

start_host() {
    local dir="$1" name="$2" image="$3" port="$4" init
    init="$(init_binary)" || die "no init for the containers (catatonit or tini-static): apt-get install catatonit"
    podman rm -f "$name" >/dev/null 2>&1 || true
    # --init: PID 1 is $init, which reaps orphans and forwards signals to the sh/sleep below; it is
    # kept across 'podman restart' (the jobs and chaos scenarios restart containers under jobs)
    podman run -d --name "$name" --hostname "$name" --network host --init --init-path "$init" \
        --volume "$dir/authorized_keys:/root/.ssh/authorized_keys:ro" \
        --volume "$dir/asyncops-sshd:/usr/local/sbin/asyncops-sshd:ro" \
        --tmpfs /mnt/small:size=256k,mode=1777 \
        "$image" /bin/sh -c "/usr/local/sbin/asyncops-sshd $port && exec sleep infinity" >/dev/null
    echo "$name" >>"$dir/containers"
}

cmd_start() {
    local dir="$1" spec name suite port image
    shift
    install_tools
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    chmod 700 "$dir"
    [[ -f "$dir/id_ed25519" ]] || ssh-keygen -q -t ed25519 -N '' -C asyncops-test-hosts -f "$dir/id_ed25519"
    cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
    chmod 0644 "$dir/authorized_keys"
    write_sshd_script "$dir"
    : >"$dir/inventory.ini"
    for spec in "$@"; do
        IFS=: read -r name suite port <<<"$spec"
        [[ -n "$name" && -n "$suite" && "$port" =~ ^[0-9]+$ ]] || die "host spec must be NAME:SUITE:PORT, got '$spec'"
        image="$(cmd_image "$suite")"
        start_host "$dir" "$name" "$image" "$port"
        printf '%s ansible_host=127.0.0.1 ansible_port=%s ansible_user=root ansible_ssh_private_key_file=%s ansible_python_interpreter=/usr/bin/python3 container_name=%s debian_suite=%s ansible_ssh_common_args="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"\n' \
            "$name" "$port" "$dir/id_ed25519" "$name" "$suite" >>"$dir/inventory.ini"
    done
    for spec in "$@"; do
        IFS=: read -r name suite port <<<"$spec"
        wait_for_ssh "$dir" "$port" "$name"
    done
    echo "$dir/inventory.ini"
}

cmd_stop() {
    local dir="$1" name
    [[ -f "$dir/containers" ]] || return 0
    while read -r name; do
        if [[ -n "$name" ]]; then
            podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
        fi
    done <"$dir/containers"
    rm -f "$dir/containers"
}

main() {
    case "${1:-}" in
        image)
            install_tools
            cmd_image "${2:?suite}"
            ;;
        start) cmd_start "${2:?dir}" "${@:3}" ;;
        stop) cmd_stop "${2:?dir}" ;;
        *)
            echo "usage: $0 image SUITE | start DIR NAME:SUITE:PORT... | stop DIR" >&2
            exit 2
            ;;
    esac
}

main "$@"
