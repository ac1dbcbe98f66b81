# shellcheck shell=bash
# tests/integration/gluster.sh — a real GlusterFS volume for the tests of
# several braidfsd hosts on one store. Source it after lib.sh:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   source "$(dirname "${BASH_SOURCE[0]}")/gluster.sh"
#   gluster_setup 2          # a replica-2 volume, mounted twice
#   ls "${GL_MNT[1]}" "${GL_MNT[2]}"
#
# What it makes: glusterd (Debian's glusterfs-server), started by hand (no
# systemd here) with its own working directory, run directory and CLI
# socket under GL_DIR, so that it shares nothing with another run or a
# system glusterd; a replica-2 volume on two bricks in GL_DIR (`force`:
# both bricks are on one host and on the root file system); and N mounts
# of it with the glusterfs FUSE client, GL_MNT[1..N]. Two mounts stand in
# for two hosts: each is its own client process with its own caches and
# lock owner, talking to the bricks over TCP like a remote host would.
#
# Why a network namespace: glusterd refuses bricks on loopback addresses
# and listens on the fixed port 24007 (its bricks on 49152 and up). So
# glusterd, its bricks, its self-heal daemon and the FUSE clients all run
# in a namespace of their own (GL_NS) where a veth pair carries GL_ADDR:
# no port or address of the machine or of another run is touched, and
# every process of the volume is found by the namespace
# (`ip netns pids`), never by name. nsenter --net switches only the
# network namespace, so the FUSE mounts are visible to everybody.
#
# GL_DIR is outside the test's temp dir on purpose: lib.sh's cleanup
# aborts any FUSE mount left under $T before the hooks run, and the
# volume's mounts must outlive the braidfsd daemons that use them.
#
# Teardown (gluster_teardown, an on_cleanup hook, so it runs after the
# daemons are stopped and their mounts undone): unmount, stop and delete
# the volume, kill what is left in the namespace (glusterd, bricks,
# self-heal daemon), delete the namespace, remove GL_DIR. A run killed
# with SIGKILL leaves its namespace and directory behind; the next
# gluster_setup removes those whose pid is gone (gluster_reap_stale).
#
# Every wait is on an event (the CLI answers, the bricks are online, the
# mount serves, a file written through one mount is seen through the
# other), bounded by wait_until.

[[ $(type -t on_cleanup) == function ]] || {
	echo "gluster.sh: source lib.sh first" >&2
	exit 1
}

command -v glusterd >/dev/null || fail "glusterd not found (apt-get install glusterfs-server glusterfs-client)"
command -v glusterfs >/dev/null || fail "glusterfs (the FUSE client) not found"
command -v ip >/dev/null || skip "ip (iproute2) not found"
command -v nsenter >/dev/null || skip "nsenter (util-linux) not found"

GL_NS=
GL_DIR=
GL_SOCK=
GL_PID=
GL_VOL=bfv
GL_ADDR=10.99.0.1
GL_STARTED=0
declare -ga GL_MNT=()   # -g: sourced from a function too

on_cleanup gluster_teardown

# in_gl command...: run in the volume's namespace (network only).
in_gl() { nsenter --net="/run/netns/$GL_NS" -- "$@"; }

# gl_cli ARGS...: the gluster CLI against this run's glusterd, bounded.
gl_cli() {
	timeout "$(tmo 60)" nsenter --net="/run/netns/$GL_NS" -- \
		gluster --mode=script --glusterd-sock="$GL_SOCK" "$@"
}

# gluster_reap_stale: what runs killed with SIGKILL left behind.
gluster_reap_stale() {
	local n pid d m
	for n in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
		[[ $n =~ ^bfgl-([0-9]+)$ ]] || continue
		pid=${BASH_REMATCH[1]}
		[[ -d /proc/$pid ]] && continue
		echo "   gluster: removing stale namespace $n"
		d=${BRAIDFS_TEST_TMPDIR:-/var/tmp}/braidfs-gluster.$pid
		for m in "$d"/m*; do
			mountpoint -q "$m" && umount -l "$m"
		done
		_gl_kill_ns "$n"
		ip netns del "$n" 2>/dev/null || true
		rm -rf --one-file-system -- "$d"
	done
}

# _gl_kill_ns NS: SIGKILL every process in the namespace, wait for them.
_gl_kill_ns() {
	local p
	for p in $(ip netns pids "$1" 2>/dev/null); do
		kill -9 "$p" 2>/dev/null || true
	done
	wait_until 30 "the processes of $1 to exit" _gl_ns_empty "$1" || true
}

_gl_ns_empty() { [[ -z $(ip netns pids "$1" 2>/dev/null) ]]; }

# gluster_setup [NMOUNTS]: glusterd, the replica-2 volume, NMOUNTS mounts
# (default 2). Fails the test (with glusterd's logs) if any step fails.
gluster_setup() {
	local nm=${1:-2} i
	gluster_reap_stale
	GL_NS=bfgl-$$
	GL_DIR=${BRAIDFS_TEST_TMPDIR:-/var/tmp}/braidfs-gluster.$$
	GL_SOCK=$GL_DIR/run/glusterd.socket
	rm -rf --one-file-system -- "$GL_DIR"
	mkdir -p "$GL_DIR"/{wd,run,logs,b1,b2}
	ALL_LOGS+=("$GL_DIR/logs/glusterd.log")

	ip netns add "$GL_NS"
	ip -n "$GL_NS" link set lo up
	ip -n "$GL_NS" link add gla type veth peer name glb
	ip -n "$GL_NS" addr add "$GL_ADDR/24" dev gla
	ip -n "$GL_NS" link set gla up
	ip -n "$GL_NS" link set glb up

	cat >"$GL_DIR/glusterd.vol" <<EOF
volume management
    type mgmt/glusterd
    option working-directory $GL_DIR/wd
    option run-directory $GL_DIR/run
    option glusterd-sockfile $GL_SOCK
    option transport-type socket
    option transport.socket.listen-port 24007
    option ping-timeout 0
    option event-threads 1
end-volume
EOF
	# -N: in the foreground, so that it is our child and its pid is known.
	in_gl glusterd -N -f "$GL_DIR/glusterd.vol" -l "$GL_DIR/logs/glusterd.log" \
		</dev/null >>"$GL_DIR/logs/glusterd.out" 2>&1 &
	GL_PID=$!
	GL_STARTED=1
	wait_until 60 "glusterd to answer" _gl_answers ||
		fail "glusterd does not answer: $(tail -n 20 "$GL_DIR/logs/glusterd.log")"

	gl_cli volume create "$GL_VOL" replica 2 \
		"$GL_ADDR:$GL_DIR/b1" "$GL_ADDR:$GL_DIR/b2" force >/dev/null ||
		fail "gluster volume create failed"
	# Two hosts must see each other's writes, directory entries and
	# locks at once: no client-side caches of data or metadata.
	for o in performance.stat-prefetch performance.quick-read \
		performance.io-cache performance.read-ahead \
		performance.readdir-ahead performance.open-behind; do
		gl_cli volume set "$GL_VOL" "$o" off >/dev/null
	done
	gl_cli volume start "$GL_VOL" >/dev/null || fail "gluster volume start failed"
	wait_until 60 "both bricks of $GL_VOL online" _gl_bricks_online ||
		fail "bricks not online: $(gl_cli volume status "$GL_VOL" 2>&1)"

	for ((i = 1; i <= nm; i++)); do
		GL_MNT[i]=$GL_DIR/m$i
		mkdir -p "${GL_MNT[i]}"
		in_gl glusterfs --volfile-server="$GL_ADDR" --volfile-id="$GL_VOL" \
			--log-file="$GL_DIR/logs/m$i.log" "${GL_MNT[i]}" ||
			fail "glusterfs mount $i failed: $(tail -n 20 "$GL_DIR/logs/m$i.log")"
		wait_until 60 "mount $i of $GL_VOL to serve" _gl_serves "${GL_MNT[i]}" ||
			fail "mount $i does not serve: $(tail -n 20 "$GL_DIR/logs/m$i.log")"
	done
	# The mounts see one volume: a file made through the first is read
	# through every other.
	echo "$$" >"${GL_MNT[1]}/.gluster-probe"
	for ((i = 2; i <= nm; i++)); do
		wait_until 30 "mount $i to see mount 1's file" \
			_gl_sees "${GL_MNT[i]}/.gluster-probe" "$$" ||
			fail "mount $i does not see what mount 1 wrote"
	done
	rm -f "${GL_MNT[1]}/.gluster-probe"
	note "gluster: volume $GL_VOL (replica 2) up, mounted at ${GL_MNT[*]}"
}

_gl_answers() { gl_cli volume list >/dev/null 2>&1; }

# Both bricks say "Online : Y" (the detailed status has one such line per
# brick; the table wraps long brick paths).
_gl_bricks_online() {
	local n
	n=$(gl_cli volume status "$GL_VOL" detail 2>/dev/null |
		awk '$1 == "Online" && $NF == "Y" { n++ } END { print n + 0 }')
	((n == 2))
}

_gl_serves() {
	mountpoint -q "$1" && grep -q " $(mnt_enc "$1") fuse.glusterfs " /proc/mounts &&
		timeout 5 stat -- "$1" >/dev/null 2>&1
}

_gl_sees() { [[ $(cat "$1" 2>/dev/null) == "$2" ]]; }

# gluster_teardown: undo gluster_setup (idempotent, never fails).
gluster_teardown() {
	local m
	((GL_STARTED)) || return 0
	GL_STARTED=0
	for m in "${GL_MNT[@]}"; do
		mountpoint -q "$m" || continue
		timeout 10 umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
	# Not under GL_DIR, removed once the processes are gone: the sockets
	# they made in /var/run/gluster (named by a hash: found by their
	# owner, in the namespace, where its unix sockets are listed) and the
	# bricks' logs in /var/log/glusterfs/bricks (named by their paths).
	local socks=() p
	for p in $(ip netns pids "$GL_NS" 2>/dev/null); do
		mapfile -t -O "${#socks[@]}" socks < <(in_gl ss -xlpH 2>/dev/null |
			awk -v p="pid=$p," 'index($0, p) && $5 ~ /^\/var\/run\/gluster\// { print $5 }')
	done
	gl_cli volume stop "$GL_VOL" force >/dev/null 2>&1 || true
	gl_cli volume delete "$GL_VOL" >/dev/null 2>&1 || true
	_gl_kill_ns "$GL_NS"
	rm -f -- "${socks[@]}" "/var/log/glusterfs/bricks/$(tr / - <<<"${GL_DIR#/}")"-b[12].log
	[[ -n $GL_PID ]] && wait "$GL_PID" 2>/dev/null
	ip netns del "$GL_NS" 2>/dev/null || true
	if [[ ${BRAIDFS_TEST_KEEP:-0} == 1 ]]; then
		echo "gluster: keeping $GL_DIR"
	else
		rm -rf --one-file-system -- "$GL_DIR"
	fi
	GL_MNT=() GL_PID=
	return 0
}
