#!/usr/bin/env bash
# service.sh: running as a service.
# - braidfsd@.service (as meson builds it) passes systemd-analyze verify;
#   its ExecStart line, with the variables of a config like
#   braidfsd.conf.example, is run as systemd would run it (no systemd as
#   PID 1 here: NOTIFY_SOCKET is the test's): READY=1 once serving,
#   SIGTERM (systemctl stop) unmounts and exits 0.
# - the client from an fstab line as the README documents it, with
#   _netdev and x-systemd.automount, through mount --fstab (mount(8) and
#   mount.fuse3); umount ends it.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -n ${BRAIDFSD_UNIT:-} ]] || fail "BRAIDFSD_UNIT is not set (meson sets it)"
command -v systemd-analyze >/dev/null || fail "systemd-analyze missing (package systemd)"
command -v mount.fuse3 >/dev/null || fail "mount.fuse3 missing (package fuse3)"

note "the unit"
# the unit as installed with this build's braidfsd
sed "s|^ExecStart=[^ ]*|ExecStart=$BRAIDFSD|" "$BRAIDFSD_UNIT" >"$T/braidfsd@test.service"
check "systemd-analyze verify braidfsd@test.service" \
	run_t 30 systemd-analyze verify --man=no "$T/braidfsd@test.service"
grep -q '^Type=notify$' "$BRAIDFSD_UNIT" || fail "the unit is not Type=notify"

PORT=$(free_port)
MOUNTPOINT=$T/srv
OPTIONS=store=$T/store,listen=127.0.0.1:$PORT
exec_start=$(sed -n 's/^ExecStart=//p' "$T/braidfsd@test.service")
# systemd's ${VAR} expansion (the values have no spaces)
eval "cmd=($exec_start)"
echo "   ExecStart: ${cmd[*]}"
bg python3 "$LIB_DIR/notify_listener.py" "@braidfs-service-$$-$PORT" "$T/notify" "$T/srv" "$PORT"
wait_until 30 "the notify socket" test -e "$T/notify.ready" || fail "no notify socket"
mkdir -p "$MOUNTPOINT"
NOTIFY_SOCKET="@braidfs-service-$$-$PORT" start_daemon server server "$T/srv" "${cmd[@]}"
said() { grep -qxF "$1" "$T/notify" 2>/dev/null; }
wait_until 30 "READY=1" said READY=1 || fail "no READY=1 from the unit's command"
sed 's/^/   | /' "$T/notify"
check "READY=1 once mounted and listening" grep -qx -- "-- mounted=1 listening=1" "$T/notify"

note "the client from fstab"
mkdir -p "$T/cli"
printf '%s#127.0.0.1:%s %s fuse _netdev,x-systemd.automount,nofail,paths=2,label=fstab 0 0\n' \
	"$BRAIDFS" "$PORT" "$T/cli" >"$T/fstab"
sed 's/^/   | /' "$T/fstab"
RC=0
run_t 60 mount --fstab "$T/fstab" "$T/cli" >"$T/mount.out" 2>&1 || RC=$?
ALL_LOGS+=("$T/mount.out")
assert_eq 0 "$RC" "mount --fstab FSTAB MOUNTPOINT exits 0"
is_mounted "$T/cli" || fail "not mounted: $(cat "$T/mount.out")"
adopt_daemon client client "$T/cli" "$T/mount.out" || true
head -c 100000 /dev/urandom >"$T/f"
check "cp into the fstab mount" run_t 60 cp "$T/f" "$T/cli/f"
check "the file is on the server" cmp "$T/f" "$(session_for_label "$T/srv" fstab)/f"
check "umount ends the client" run_t 30 umount "$T/cli"
[[ -n ${D_PID[client]:-} ]] && { wait_exit "${D_PID[client]}" 30 || true; unset "D_PID[client]"; }

note "mount.fuse3 passes x-systemd options on: the client ignores them"
mkdir -p "$T/cli2"
RC=0
run_t 60 mount.fuse3 "$BRAIDFS#127.0.0.1:$PORT" "$T/cli2" \
	-o _netdev,x-systemd.automount,x-systemd.idle-timeout=60,paths=2 >"$T/mount2.out" 2>&1 || RC=$?
ALL_LOGS+=("$T/mount2.out")
sed 's/^/   | /' "$T/mount2.out"
assert_eq 0 "$RC" "mount.fuse3 with x-systemd.* options exits 0"
if is_mounted "$T/cli2"; then
	adopt_daemon client2 client "$T/cli2" "$T/mount2.out" || true
	check "umount ends the second client" run_t 30 umount "$T/cli2"
	[[ -n ${D_PID[client2]:-} ]] && { wait_exit "${D_PID[client2]}" 30 || true; unset "D_PID[client2]"; }
fi

note "systemctl stop: SIGTERM"
kill_daemon server TERM
assert_eq 0 "$LAST_RC" "braidfsd exits 0 on SIGTERM"
wait_until 30 "STOPPING=1" said STOPPING=1 || fail "no STOPPING=1"
check "the view is unmounted" bash -c "! grep -qF ' $(mnt_enc "$T/srv") ' /proc/mounts"

finish
