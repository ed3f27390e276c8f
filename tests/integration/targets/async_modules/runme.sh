#!/usr/bin/env bash
# package, service, uri, get_url, git through async_run/async_batch: a loopback HTTP server, an init script, a repo.
set -eux
work="$(mktemp -d)"
# the jobs' own async dir, new for this run: nothing read from or left in the ~/.ansible_async this machine has
export ANSIBLE_ASYNC_DIR="$work/async"
port=$((20000 + RANDOM % 20000))
cleanup() {
    [[ -z "${server:-}" ]] || kill "$server" || true
    rm -f /etc/init.d/asyncops-test-svc
    rm -rf "$work"
}
trap cleanup EXIT

printf 'hello from the test server\n' >"$work/index.txt"
printf 'a body\n' >"$work/body.txt"
python -m http.server "$port" --bind 127.0.0.1 --directory "$work" >"$OUTPUT_DIR/http.log" 2>&1 &
server=$!
for _ in $(seq 50); do
    python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/index.txt')" 2>/dev/null && break
    sleep 0.1
done

cat >/etc/init.d/asyncops-test-svc <<SCRIPT
#!/bin/sh
case "\$1" in
    start) touch "$work/svc-started" ;;
    stop) rm -f "$work/svc-started" ;;
    status) test -e "$work/svc-started" ;;
    *) exit 3 ;;
esac
SCRIPT
chmod 755 /etc/init.d/asyncops-test-svc

git init -q "$work/repo"
git -C "$work/repo" -c user.email=t@t -c user.name=t commit -q --allow-empty -m init

ASYNC_MODULES_WORK="$work" ASYNC_MODULES_PORT="$port" ansible-playbook -i inventory.ini modules.yml "$@"
