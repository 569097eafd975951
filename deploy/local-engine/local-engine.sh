#!/usr/bin/env bash
# A Docker engine for tests and CI on a machine that has none (Debian, root): `make local-engine`.
# Users who have Docker never run this. It installs Debian's docker.io (engine, containerd, runc) and
# debootstrap, the compose and buildx plugins from Debian's next release (static binaries, unpacked only),
# starts dockerd with its data under $LOCAL_ENGINE_DIR (default var/local-engine), and makes the offline
# images no registry is needed for: Python (debootstrap of bookworm), and PostgreSQL, Redis and nginx
# (Debian's packages on that base).
#   local-engine.sh start   start (idempotent) and print the `export NAME=value` lines for `make up`
#   local-engine.sh env     print those lines only (the engine must answer)
#   local-engine.sh stop    stop the engine this script started (its data stays for a faster next start)
#   local-engine.sh purge   stop, then delete its data (images, containers, volumes)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
dir=${LOCAL_ENGINE_DIR:-$repo/var/local-engine}
sock=$dir/docker.sock
pidfile=$dir/dockerd.pid
python_image=${LOCAL_PYTHON_IMAGE:-local/python:3.11-bookworm}
postgres_image=${LOCAL_POSTGRES_IMAGE:-local/postgres:15-bookworm}
redis_image=${LOCAL_REDIS_IMAGE:-local/redis:7-bookworm}
nginx_image=${LOCAL_NGINX_IMAGE:-local/nginx:1.22-bookworm}
suite=bookworm
next_suite=trixie

log() { echo "local-engine: $*" >&2; }
die() { log "error: $*"; exit 1; }

ours_answers() { [ -S "$sock" ] && DOCKER_HOST=unix://$sock docker info >/dev/null 2>&1; }

print_env() {
    echo "export DOCKER_HOST=unix://$sock"
    echo "export PYTHON_IMAGE=$python_image"
    echo "export POSTGRES_IMAGE=$postgres_image"
    echo "export REDIS_IMAGE=$redis_image"
    echo "export NGINX_IMAGE=$nginx_image"
    # no NAT without iptables: builds reach the package index through the host's network
    echo "export BUILD_NETWORK=host"
}

mirror() {
    # the mirror this machine's own sources name (deb822 or one-line format)
    local uri
    uri=$(grep -hoE '^URIs: *\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | awk '{print $2}')
    [ -n "$uri" ] || uri=$(grep -hoE '^deb +\S+' /etc/apt/sources.list 2>/dev/null | head -1 | awk '{print $2}')
    echo "${uri:-http://deb.debian.org/debian}"
}

check_machine() {
    [ "$(id -u)" = 0 ] || die "needs root (it installs Debian packages and runs dockerd)"
    grep -qs '^ID=debian' /etc/os-release || die "needs Debian (apt-get, debootstrap); install Docker yourself"
}

install_packages() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v docker >/dev/null || missing+=(docker-cli)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]} from Debian"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

install_plugins() {
    local plugins=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins need=()
    docker compose version >/dev/null 2>&1 || need+=(docker-compose)
    docker buildx version >/dev/null 2>&1 || need+=(docker-buildx)
    [ ${#need[@]} -gt 0 ] || return 0
    log "fetching ${need[*]} from Debian $next_suite (static binaries, unpacked into $plugins)"
    local apt=$dir/apt
    mkdir -p "$apt/lists/partial" "$apt/debs" "$plugins"
    echo "deb $(mirror) $next_suite main" > "$apt/sources.list"
    local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache")
    apt-get "${opts[@]}" update -qq
    (cd "$apt/debs" && apt-get "${opts[@]}" download -qq -o APT::Sandbox::User=root "${need[@]}")
    local deb
    for deb in "$apt"/debs/*.deb; do dpkg -x "$deb" "$apt/root"; done
    for name in "${need[@]}"; do cp "$apt/root/usr/libexec/docker/cli-plugins/$name" "$plugins/"; done
}

start_dockerd() {
    ours_answers && return 0
    mkdir -p "$dir/data" "$dir/exec"
    log "starting dockerd (data in $dir/data, socket $sock)"
    nohup dockerd --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$pidfile" \
        --host "unix://$sock" --iptables=false --ip6tables=false --bridge=none \
        >"$dir/dockerd.log" 2>&1 &
    local i
    for i in $(seq 1 60); do
        ours_answers && return 0
        sleep 1
    done
    tail -20 "$dir/dockerd.log" >&2
    die "dockerd did not answer within 60 s (log: $dir/dockerd.log)"
}

has_image() { DOCKER_HOST=unix://$sock docker image inspect "$1" >/dev/null 2>&1; }

make_python_image() {
    has_image "$python_image" && return 0
    local rootfs=$dir/rootfs-python
    log "making $python_image with debootstrap ($suite, minbase + python3; about a minute)"
    rm -rf "$rootfs"
    debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
        "$suite" "$rootfs" "$(mirror)" >"$dir/debootstrap.log" 2>&1 || {
        tail -20 "$dir/debootstrap.log" >&2
        die "debootstrap failed (log: $dir/debootstrap.log)"
    }
    # pip inside the builds goes through this machine's network: it needs this machine's trust store
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | DOCKER_HOST=unix://$sock docker import \
        -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
        -c 'CMD ["python3"]' - "$python_image" >/dev/null
    rm -rf "$rootfs"
}

# an image from Debian's package on the Python base: deploy/local-engine/<folder>/Dockerfile
make_debian_image() {
    has_image "$1" && return 0
    log "building $1 (deploy/local-engine/$2: Debian's package on $python_image)"
    DOCKER_HOST=unix://$sock DOCKER_BUILDKIT=1 docker build --quiet --network host \
        --build-arg "BASE_IMAGE=$python_image" -t "$1" "$here/$2" >/dev/null
}

stop_dockerd() {
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        local pid
        pid=$(cat "$pidfile")
        log "stopping dockerd (pid $pid)"
        kill "$pid"
        local i
        for i in $(seq 1 30); do
            kill -0 "$pid" 2>/dev/null || return 0
            sleep 1
        done
        die "dockerd (pid $pid) did not stop within 30 s"
    fi
    log "no local engine runs"
}

case ${1:-start} in
start)
    if ! ours_answers && docker info >/dev/null 2>&1; then
        log "a Docker engine already answers (docker info); nothing to start"
        exit 0
    fi
    check_machine
    install_packages
    install_plugins
    start_dockerd
    make_python_image
    make_debian_image "$postgres_image" postgres
    make_debian_image "$redis_image" redis
    make_debian_image "$nginx_image" nginx
    print_env
    ;;
env)
    ours_answers || die "the local engine does not answer: make local-engine"
    print_env
    ;;
stop) stop_dockerd ;;
purge)
    stop_dockerd
    # dockerd leaves its network namespace bind-mounted under exec/netns; nothing under $dir may stay
    # mounted, or the folder (and a clone holding it) cannot be deleted
    if [ -d "$dir" ]; then
        grep -o " $(realpath "$dir")/[^ ]*" /proc/mounts | sort -r | while read -r mount; do umount "$mount" || true; done
    fi
    rm -rf "$dir"
    ;;
*) die "usage: $0 start|env|stop|purge" ;;
esac
