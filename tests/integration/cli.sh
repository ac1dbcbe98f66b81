#!/usr/bin/env bash
# cli.sh: -h and -V of both binaries exit 0 (help names the contract's
# options, -V the version); missing arguments and invalid option values
# exit non-zero, quickly, without mounting anything.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# run_cli NAME command...: sets OUT (stdout+stderr) and RC
run_cli() {
	local name=$1
	shift
	RC=0
	run_t 10 "$@" </dev/null >"$T/$name.out" 2>&1 || RC=$?
	OUT=$(cat "$T/$name.out")
	ALL_LOGS+=("$T/$name.out")
	echo "   $name: exit $RC, $(wc -l <"$T/$name.out") line(s)"
}

for prog in braidfs braidfsd; do
	bin=$BRAIDFS
	words=(paths chunk_size scheduler label)
	if [[ $prog == braidfsd ]]; then
		bin=$BRAIDFSD
		words=(listen store)
	fi
	run_cli "$prog-h" "$bin" -h
	assert_eq 0 "$RC" "$prog -h exits 0"
	for w in "${words[@]}"; do
		check "$prog -h mentions '$w'" grep -qF -- "$w" <<<"$OUT"
	done
	run_cli "$prog-V" "$bin" -V
	assert_eq 0 "$RC" "$prog -V exits 0"
	if [[ -n ${BRAIDFS_VERSION:-} ]]; then
		check "$prog -V prints version $BRAIDFS_VERSION" grep -qF -- "$BRAIDFS_VERSION" <<<"$OUT"
	else
		check "$prog -V prints something" test -n "$OUT"
	fi
	run_cli "$prog-noargs" "$bin"
	check "$prog without arguments exits non-zero" test "$RC" -ne 0
	check "$prog without arguments says something" test -n "$OUT"
done

PORT=$(free_port)
start_server server "$T/srv" "$T/store"
mkdir -p "$T/cli"
ALL_MOUNTS+=("$T/cli")
for bad in scheduler=bogus paths=0 chunk_size=banana; do
	run_cli "bad-$bad" "$BRAIDFS" "127.0.0.1:$PORT" "$T/cli" -o "$bad" -f
	check "braidfs -o $bad exits non-zero" test "$RC" -ne 0 -a "$RC" -ne 124
	echo "     ${OUT//$'\n'/ | }"
	check "braidfs -o $bad mounts nothing" bash -c "! grep -q ' $T/cli ' /proc/mounts"
	is_mounted "$T/cli" && unmount "$T/cli"
done

finish
