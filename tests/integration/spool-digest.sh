#!/usr/bin/env bash
# spool-digest.sh: a file spooled with delivery=async is sent with the
# digest its spool header records (spoolfmt.h, version 5), and the server's
# /.events line names it:
#  1. files this client spools carry BLAKE3: small ones (the spool's log)
#     and large ones (a file of their own), also delivered by the next
#     mount after a kill -9: each line says blake3: and b3sum's value;
#  2. files an older client spooled (version 4 headers: SHA-256), left by a
#     kill -9, are delivered by this client bit-exact, once each, with
#     sha256: and sha256sum's value; an append (>>) to one of them once
#     delivered continues its SHA-256.
# With BRAIDFS_OLD=PATH, that older client (a braidfs from before spool
# version 5) spools them itself; else this one does and the spool is
# rewritten as such a client writes it (spool_file.py downgrade).

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
NEW=$BRAIDFS
OLD=${BRAIDFS_OLD:-}
start_server server "$T/srv" "$T/store"
SPID=$(daemon_pid server)
EVENTS=$T/srv/.events

mkdir -p "$T/src"
for f in small1 small2 small3; do head -c $((RANDOM + 1)) /dev/urandom >"$T/src/$f"; done
for f in big1 big2 big3; do head -c $((3 << 20)) /dev/urandom >"$T/src/$f"; done

# event_for SESS PATH FILE ALG SUM: one line of /.events names SESS/PATH
# with FILE's size and ALG:SUM
event_for() {
	local want
	want="$1 $2 $(stat -c %s "$3") $4:$5"
	assert_eq 1 "$(W=$want awk '{ $1 = ""; sub(/^ /, "") } $0 == ENVIRON["W"] { n++ } END { print n + 0 }' "$EVENTS")" \
		"/.events: $2 once, with its size and $4 digest"
}
b3() { b3sum <"$1" | cut -d' ' -f1; }
s256() { sha256sum <"$1" | cut -d' ' -f1; }

note "1. files this client spools carry BLAKE3"
start_client c1 "$T/cli" label=new delivery=async "spool=$T/spool1"
SESS=$(session_for_label "$T/srv" new) || fail "no session for label new"
mkdir "$T/cli/a" "$T/cli/b"
check "cp small1 big1" cp "$T/src/small1" "$T/src/big1" "$T/cli/a/"
check "the spool drains" wait_spool_empty "$T/cli" 60
kill -STOP "$SPID"
check "cp small2 big2 returns while the server is frozen" \
	run_t 60 cp "$T/src/small2" "$T/src/big2" "$T/cli/b/"
kill_daemon c1 KILL
kill -CONT "$SPID"
start_client c2 "$T/cli" label=new delivery=async "spool=$T/spool1"
check "the next mount drains the spool" wait_spool_empty "$T/cli" 60
stop_daemon c2
for p in a/small1 a/big1 b/small2 b/big2; do
	f=$T/src/${p#*/}
	check "$p arrived bit-exact" cmp "$f" "$SESS/$p"
	event_for "$(basename "$SESS")" "$p" "$f" blake3 "$(b3 "$f")"
done

note "2. files an older client spooled (SHA-256) ${OLD:+(by $OLD)}"
SPOOL=$T/spool2
BRAIDFS=${OLD:-$NEW} start_client c3 "$T/cli" label=old delivery=async "spool=$SPOOL"
SESS=$(session_for_label "$T/srv" old) || fail "no session for label old"
mkdir "$T/cli/c"
# The older client's attempts reach the frozen server, which stores them
# once it goes on: this client's replay must prove their SHA-256. A spool
# rewritten as the older client's must not have been sent as this
# client's (BLAKE3): then the server is down meanwhile.
if [[ -n $OLD ]]; then kill -STOP "$SPID"; else stop_daemon server; fi
check "cp small3 big3 returns while the server is away" \
	run_t 60 cp "$T/src/small3" "$T/src/big3" "$T/cli/c/"
kill_daemon c3 KILL
[[ -n $OLD ]] || python3 "$LIB_DIR/spool_file.py" downgrade "$SPOOL"
check "the spool holds version 4 headers only" bash -c '
	cd "$1/items" && ! grep -l BFSPOOL5 -- * && grep -ql BFSPOOL4 -- *' _ "$SPOOL"
if [[ -n $OLD ]]; then kill -CONT "$SPID"; else start_server server "$T/srv" "$T/store"; fi
BRAIDFS=$NEW start_client c4 "$T/cli" label=old delivery=async "spool=$SPOOL"
check "this client drains the older one's spool" wait_spool_empty "$T/cli" 60
for p in c/small3 c/big3; do
	f=$T/src/${p#*/}
	check "$p arrived bit-exact" cmp "$f" "$SESS/$p"
	event_for "$(basename "$SESS")" "$p" "$f" sha256 "$(s256 "$f")"
done
assert_eq 2 "$(session_field "$SESS/.session" versions)" "each was stored once"
check "the client log names the recovered files" \
	grep -q "2 files from an earlier mount to deliver" "$(daemon_log c4)"
cp "$T/src/big3" "$T/model"
echo appended | tee -a "$T/model" >/dev/null
check "echo >> c/big3" run_t 30 bash -c 'echo appended >>"$1"' _ "$T/cli/c/big3"
check "the spool drains" wait_spool_empty "$T/cli" 60
stop_daemon c4
check "c/big3 with the append arrived bit-exact" cmp "$T/model" "$SESS/c/big3"
event_for "$(basename "$SESS")" c/big3 "$T/model" sha256 "$(s256 "$T/model")"

stop_all
finish
