#!/usr/bin/env bash
# One command on a fresh Debian 12 machine, as root: install what braidfs
# needs, build it, and show it working on loopback — a server mount and a
# client mount, files copied in with cp, listed and read on the server,
# everything unmounted at the end.
set -euo pipefail
cd "$(dirname "$0")"

if [[ ${BRAIDFS_DEMO_NO_INSTALL:-0} != 1 ]]; then
	echo "== installing build dependencies (apt-get)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends gcc meson ninja-build \
		pkg-config fuse3 libfuse3-dev libglib2.0-dev libsodium-dev libssl-dev \
		libisal-dev >/dev/null
fi

echo "== building"
[[ -d build ]] || meson setup build >/dev/null
meson compile -C build >/dev/null

demo=$(mktemp -d /var/tmp/braidfs-demo.XXXXXX)
port=$((20000 + RANDOM % 20000))
server_mnt=$demo/in client_mnt=$demo/out
mkdir -p "$server_mnt" "$client_mnt" "$demo/src/photos"

cleanup() {
	fusermount3 -u "$client_mnt" 2>/dev/null || true
	fusermount3 -u "$server_mnt" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$demo"
}
trap cleanup EXIT

wait_mount() {
	for _ in $(seq 100); do
		grep -q " $1 fuse" /proc/mounts && return 0
		sleep 0.1
	done
	echo "demo: $1 did not mount" >&2
	return 1
}

echo "== braidfsd $server_mnt -o listen=127.0.0.1:$port,store=$demo/store"
build/src/server/braidfsd "$server_mnt" -f \
	-o "listen=127.0.0.1:$port,store=$demo/store" 2>"$demo/server.log" &
wait_mount "$server_mnt"

echo "== braidfs 127.0.0.1:$port $client_mnt -o paths=4,label=demo"
build/src/client/braidfs "127.0.0.1:$port" "$client_mnt" -f \
	-o paths=4,label=demo 2>"$demo/client.log" &
wait_mount "$client_mnt"

echo "hello from braidfs" >"$demo/src/hello.txt"
head -c 3M /dev/urandom >"$demo/src/photos/beach.raw"
head -c 100K /dev/urandom >"$demo/src/photos/cat.jpg"

echo "== cp -r into the outbox"
cp -rv "$demo/src/." "$client_mnt/"

echo "== ls -lR on the server mount"
ls -lR "$server_mnt"
session=$(find "$server_mnt" -mindepth 1 -maxdepth 1 -type d | head -n 1)
echo "== cat $session/hello.txt"
cat "$session/hello.txt"
echo "== cat $session/.session"
cat "$session/.session"
echo "== sha256sum (the digest the protocol verified)"
sha256sum "$demo/src/photos/beach.raw" "$session/photos/beach.raw"
diff -r -x .session "$demo/src" "$session" && echo "== source and server copy are identical"
echo "== unmounting"
