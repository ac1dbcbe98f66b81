#!/usr/bin/env bash
# spool-unreadable.sh: a delivery=async mount that cannot list or read
# what its spool holds (too many open files, permissions) does not mount
# without it: it says which file or directory it could not read and what
# to do, exits 1, and removes nothing; or it mounts and delivers it all.
# A mount that went on without the log's segments would deliver none of
# the small files recorded there (they stayed on disk, unseen).
#
# The spool is filled by a client killed (-9) while the server is frozen:
# a directory made with mkdir -m 700 (SPOOL/dirs), small files (records in
# the log's segments) and big ones (files of their own) in it.
#  1. the client under every open-files limit from 8 up (prlimit) until one
#     mounts: each attempt either refuses, naming what it could not read,
#     with the spool unchanged, or delivers everything;
#  2. with root's permission checks (setpriv without CAP_DAC_OVERRIDE and
#     CAP_DAC_READ_SEARCH), a log segment, a spooled file and SPOOL/dirs at
#     mode 000 in turn: the mount is refused, naming the file, the spool
#     unchanged;
#  3. a mount without a limit delivers it all: the directory's mode, every
#     file bit-exact.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v prlimit >/dev/null || skip "prlimit (util-linux) is missing"
command -v setpriv >/dev/null || skip "setpriv (util-linux) is missing"
PORT=$(free_port)
SPOOL=$T/spool
CLI=$T/cli
K=12

mkdir -p "$T/src/d"
for ((i = 1; i <= K; i++)); do head -c $((i * 3000)) /dev/urandom >"$T/src/d/s$i"; done
for i in 1 2; do head -c $((200000 + i)) /dev/urandom >"$T/src/d/big$i"; done

start_server server "$T/srv" "$T/store"
SPID=$(daemon_pid server)
on_cleanup kill -CONT "$SPID"
ROUND=0

# the spool's files with bytes, and their digests
snapshot() { (cd "$SPOOL" && find . -type f -size +0 -printf '%P\n' | LC_ALL=C sort | xargs -r sha256sum); }
spool_unchanged() { snapshot | cmp -s "$T/before" -; }

# fill_spool NAME: a client killed while the server is frozen leaves in
# the spool mkdir -m 700 NAME and the files of src/d copied into it
fill_spool() {
	ROUND=$((ROUND + 1))
	start_client "fill$ROUND" "$CLI" label=unread delivery=async "spool=$SPOOL"
	SESS=$(session_for_label "$T/srv" unread) || fail "no session for label unread"
	kill -STOP "$SPID"
	check "mkdir -m 700 $1 returns while the server is frozen" run_t 30 mkdir -m 700 "$CLI/$1"
	check "cp of $K small files and 2 big ones into $1 returns" run_t 60 cp "$T/src/d/"* "$CLI/$1/"
	kill_daemon "fill$ROUND" KILL
	kill -CONT "$SPID"
	check "the log holds segments" compgen -G "$SPOOL/items/*.log"
	check "the big files have files of their own" \
		test "$(find "$SPOOL/items" -name '*.item' -size +0 | wc -l)" -eq 2
	check "SPOOL/dirs records the directory" test -s "$SPOOL/dirs"
	snapshot >"$T/before"
}

# exited_or_serving PID: the attempt is over one way or the other (the
# client mounts before it connects: its delivery's status file is what
# says that it went on)
exited_or_serving() { ! pid_alive "$1" || timeout 5 cat "$CLI/.braidfs/spool" >/dev/null 2>&1; }

# try_mount TAG WRAPPER...: the client run through WRAPPER, until it exits
# (rc: its status; log: its log) or serves the mount (then it is the
# daemon "client")
try_mount() {
	local tag=$1
	shift
	log=$T/logs/$tag.log
	ALL_LOGS+=("$log")
	mkdir -p "$CLI"
	"$@" "$BRAIDFS" "127.0.0.1:$PORT" "$CLI" -o "label=unread,delivery=async,spool=$SPOOL" -f \
		</dev/null >"$log" 2>&1 &
	pid=$!
	BG_PIDS+=("$pid")
	wait_until 60 "braidfs ($tag) exits or serves" exited_or_serving "$pid" ||
		fail "braidfs ($tag) neither exited nor served its mount"
	if pid_alive "$pid"; then
		D_PID[client]=$pid D_MNT[client]=$CLI D_LOG[client]=$log
		D_KIND[client]=client D_CHILD[client]=1
		ALL_MOUNTS+=("$CLI")
		return 0
	fi
	rc=0
	wait "$pid" || rc=$?
	is_mounted "$CLI" && unmount "$CLI"
	return 1
}

# delivered NAME: the server holds NAME (mode 700) with every file, bit-exact
delivered() { [[ $(stat -c %a "$SESS/$1" 2>/dev/null) == 700 ]] && diff -r "$T/src/d" "$SESS/$1" >/dev/null 2>&1; }

# refused_saying WHAT: the refused mount's log names WHAT, says it removed
# nothing and what to do
refused_saying() {
	grep -q "^braidfs: spool $SPOOL: cannot .*$1" "$log" &&
		grep -q "not mounting: .*Nothing was removed: make the spool readable" "$log"
}

note "1. the client under open-files limits"
fill_spool d1
mounted= refused=0 said=0 bad=0 changed=0
for ((n = 8; n <= 256; n++)); do
	if try_mount "nofile.$n" prlimit --nofile="$n:$n" --; then
		mounted=$n
		if ! wait_spool_empty "$CLI" 60 || ! wait_until 60 "everything delivered" delivered d1; then
			bad=$((bad + 1))
			echo "   nofile $n: mounted, did not deliver everything"
		fi
		stop_daemon client any
		break
	fi
	((rc != 0)) || fail "nofile $n: braidfs exited 0 without mounting"
	refused=$((refused + 1))
	echo "   nofile $n: exit $rc: $(grep -m1 -vE '^\+|: (notice|warning): ' "$log" | cut -c1-160)"
	refused_saying ": Too many open files" && said=$((said + 1))
	if ! spool_unchanged; then
		changed=$((changed + 1))
		echo "   nofile $n: the spool changed: $(snapshot | diff "$T/before" - | grep -c '^<') files gone or changed"
		break
	fi
done
note "the client mounted with nofile ${mounted:-(never)}, after $refused refused mounts"
check "a mount under a limit mounted in the end" test -n "$mounted"
check "no refused mount changed the spool ($changed did)" test "$changed" -eq 0
check "no mount under a limit went on without delivering everything ($bad did)" test "$bad" -eq 0
check "mounts under a limit were refused ($refused)" test "$refused" -gt 0
check "refused mounts named what they could not read and what to do ($said)" test "$said" -gt 0

note "2. parts of the spool unreadable (mode 000, root without CAP_DAC_*)"
fill_spool d2
nodac=(setpriv --bounding-set=-dac_override,-dac_read_search --)
# unreadable TAG FILE WHAT: with FILE at mode 000 the mount is refused,
# naming WHAT, and the spool stays as it was
unreadable() {
	local mode
	[[ -e $2 ]] || {
		check "$1: its file is still in the spool" false
		return 0
	}
	mode=$(stat -c %a "$2")
	chmod 000 "$2"
	if try_mount "$1" "${nodac[@]}"; then
		check "the mount is refused with $1 unreadable" false
		stop_daemon client any
	else
		check "the mount is refused with $1 unreadable (exit $rc)" test "$rc" -eq 1
		check "... it names $3 and the cause, and what to do" refused_saying "$3: Permission denied"
	fi
	chmod "$mode" "$2"
	check "... the spool is as it was" spool_unchanged
}
seg=$(compgen -G "$SPOOL/items/*.log" | head -n 1)
unreadable segment "$seg" "items/$(basename "$seg")"
item=$(find "$SPOOL/items" -name '*.item' -size +0 | head -n 1)
unreadable item "$item" "items/$(basename "$item")"
unreadable dirs "$SPOOL/dirs" "$SPOOL/dirs"

note "3. a mount that can read it all delivers it all"
try_mount all env || fail "the client did not mount (exit $rc): $(tail -n 3 "$log")"
check "the spool drains" wait_spool_empty "$CLI" 120
check "d2 arrived with its mode and every file bit-exact" delivered d2
stop_daemon client
finish
