# shellcheck shell=bash
# bench/sshd.sh — a throwaway sshd for the benchmarks' ssh, rsync and
# sshfs peers. Sourced after tests/integration/lib.sh (uses T, free_port,
# wait_until, port_listening, fail, BG_PIDS, ALL_LOGS).

# sshd_start ADDR [sshd_config line...]: an sshd with its own host key and
# a client key (root by key only) on ADDR:SSH_PORT, with any extra config
# lines given; sets SSH_OPTS (ssh's options to reach it) and SSH_HOST
sshd_start() {
	local d=$T/ssh addr=$1 line
	shift
	mkdir -p "$d" /run/sshd
	chmod 700 "$d"
	[[ -f $d/host ]] || ssh-keygen -q -t ed25519 -N '' -f "$d/host"
	[[ -f $d/id ]] || ssh-keygen -q -t ed25519 -N '' -f "$d/id"
	cp "$d/id.pub" "$d/authorized_keys"
	SSH_PORT=$(free_port)
	cat >"$d/sshd_config" <<-EOF2
		Port $SSH_PORT
		ListenAddress $addr
		HostKey $d/host
		PidFile none
		AuthorizedKeysFile $d/authorized_keys
		PermitRootLogin prohibit-password
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		UsePAM no
		StrictModes no
		Subsystem sftp internal-sftp
	EOF2
	for line in "$@"; do echo "$line" >>"$d/sshd_config"; done
	/usr/sbin/sshd -D -e -f "$d/sshd_config" >"$T/logs/sshd.log" 2>&1 &
	SSHD_PID=$!
	BG_PIDS+=("$SSHD_PID")
	ALL_LOGS+=("$T/logs/sshd.log")
	wait_until 10 "sshd listening" port_listening "$SSH_PORT" || fail "sshd: $(cat "$T/logs/sshd.log")"
	# shellcheck disable=SC2034 # for the scripts that source this
	SSH_OPTS=(-F /dev/null -i "$d/id" -p "$SSH_PORT" -o StrictHostKeyChecking=no
		-o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR)
	# shellcheck disable=SC2034
	SSH_HOST=root@$addr
}

sshd_stop() {
	kill "$SSHD_PID" 2>/dev/null || true
	wait "$SSHD_PID" 2>/dev/null || true
}
