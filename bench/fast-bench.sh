#!/usr/bin/env bash
# bench/fast-bench.sh — one large file on a fast link (loopback): braidfs
# against what the bytes must cost on the store's disk, against the
# ceiling of a FUSE filesystem that does nothing, and against sshfs, in one
# run (issue 16).
#
# usage: bench/fast-bench.sh [BUILD_DIR] [-r RUNS] [-W WARMUP] [-s MIB]
#                            [-c CELLS] [-o OPTS] [-A DIR] [-M]
#   BUILD_DIR   meson build directory holding src/client/braidfs,
#               src/server/braidfsd and bench/nullfs (default ./build);
#               nothing is built here
#   -r RUNS     timed rounds; median and range reported (default 3)
#   -W N        untimed warm-up rounds first (default 1)
#   -s MIB      file size (default 1024)
#   -c CELLS    comma-separated, default all, in this order:
#     disk      cp into a plain directory on the store's disk, then
#               `sync FILE DIR` (fsync of the copy and of its directory)
#     null      cp into bench/nullfs, a FUSE filesystem that discards the
#               data, set up as the braidfs outbox (st_blksize 1 MiB, so
#               cp writes 1 MiB pieces)
#     null256   the same with st_blksize 256 KiB: the pieces cp writes into
#               braidfs with the default chunk_size
#     sshfs     cp into sshfs (max_conns=4, cipher aes128-gcm@openssh.com)
#               from a throwaway localhost sshd, then `sync FILE DIR` on
#               the server side
#     p1, p4    cp into braidfs, paths=1 / paths=4 (cp returns once the
#               server has verified, fsynced and renamed the file)
#     p1k, p4k  the same with key_file on both sides
#     p1a, p4a  paths=1 / paths=4 with delivery=async (a spool on the
#               store's disk): the time until the spool has drained (the
#               server stored the file), cp alone until it was spooled;
#               not in the default list
#     ap1, ap4, ap1k, ap4k, ap1a, ap4a  the same with the braidfs of the
#               -A build
#   -o OPTS     extra braidfs client options, comma-separated
#   -A DIR      another build directory: its braidfs cells (ap1, ap4, ap1k,
#               ap4k) run in the same rounds as this build's, so a change
#               is measured against the code before it under the same load
#               (with -c, each of p1, p4, p1k, p4k, p1a, p4a listed brings
#               its ap cell)
#   -M          on a VM whose balloon reports free pages to its host
#               (/sys/module/page_reporting): hold the reporting for the
#               run (restored at exit) and write zeros over the free
#               memory once first, so that no round's page-cache pages pay
#               a host fault each (bench/README.md, "Why the same cell
#               varies"); rounds 2-3x apart otherwise
#
# The source is a random file in a tmpfs. Every cell has its daemons up
# for the whole run, and each round runs every cell once, in an order that
# rotates from round to round, so that load from other work on the machine
# falls on all cells alike. Ratios are those of the medians; in brackets
# the range of the same ratio within each round. The peak RSS (VmHWM,
# reset before each run) of each braidfs daemon is the largest over the
# runs; their CPU time per chunk (user + system, /proc/PID/stat, per
# 256 KiB of file) is the median over the runs: it depends much less on
# the load than the throughput does. The first timed run of each cell is checked (cmp, or the size for
# nullfs). Needs root, python3, sshfs, openssh-server and openssh-client.
# See bench/README.md.

# shellcheck source-path=SCRIPTDIR
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=./build
RUNS=3
WARMUP=1
MIB=1024
ALL_CELLS=disk,null,null256,sshfs,p1,p4,p1k,p4k
KNOWN_CELLS=$ALL_CELLS,p1a,p4a
CELLS=
OPTS=
OTHER=
HOLD_REPORTING=0
while (($#)); do
	case $1 in
	-r) RUNS=$2; shift 2 ;;
	-W) WARMUP=$2; shift 2 ;;
	-s) MIB=$2; shift 2 ;;
	-c) CELLS=$2; shift 2 ;;
	-o) OPTS=$2; shift 2 ;;
	-A) OTHER=$2; shift 2 ;;
	-M) HOLD_REPORTING=1; shift ;;
	-h | --help) sed -n '2,58p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "fast-bench: unknown option $1" >&2; exit 2 ;;
	*) BUILD=$1; shift ;;
	esac
done
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "fast-bench: no build directory '$BUILD'" >&2; exit 2; }
export BRAIDFS=$BUILD/src/client/braidfs BRAIDFSD=$BUILD/src/server/braidfsd
NULLFS=$BUILD/bench/nullfs
if [[ -n $OTHER ]]; then
	OTHER=$(cd "$OTHER" 2>/dev/null && pwd) || { echo "fast-bench: no build directory '$OTHER'" >&2; exit 2; }
	ALL_CELLS+=,ap1,ap4,ap1k,ap4k
	KNOWN_CELLS+=,ap1,ap4,ap1k,ap4k,ap1a,ap4a
fi
CELLS=${CELLS:-$ALL_CELLS}
# With -A, each braidfs cell asked for brings its counterpart of the other
# build: -c p1,p4 -A DIR times p1, p4, ap1 and ap4.
if [[ -n $OTHER ]]; then
	for c in p1 p4 p1k p4k p1a p4a; do
		[[ ,$CELLS, == *,$c,* && ,$CELLS, != *,a$c,* ]] && CELLS+=,a$c
	done
fi
# shellcheck disable=SC2034 # lib.sh's name for the logs
TEST_NAME=fast-bench
# shellcheck source=../tests/integration/lib.sh
source "$HERE/../tests/integration/lib.sh"
# shellcheck source=sshd.sh
source "$HERE/sshd.sh"

IFS=, read -r -a CELL_LIST <<<"$CELLS"
for c in "${CELL_LIST[@]}"; do
	[[ ,$KNOWN_CELLS, == *,$c,* ]] || fail "unknown cell '$c' ($KNOWN_CELLS)"
done
[[ -x $NULLFS ]] || fail "no $NULLFS (meson compile -C $BUILD)"
if [[ ,$CELLS, == *,sshfs,* ]]; then
	for c in sshfs ssh ssh-keygen /usr/sbin/sshd; do
		command -v "$c" >/dev/null || fail "$c not found (apt-get install sshfs openssh-server openssh-client)"
	done
fi
IFS=, read -r -a EXTRA <<<"$OPTS"

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
range() { printf '%s\n' "$@" | sort -g | sed -n '1p;$p' | paste -sd - | sed 's/^\([^-]*\)$/\1-\1/'; }
mibps() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s / 1048576 }'; }
fdiv() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }

declare -A TITLE=(
	[disk]="cp + fsync, plain directory on the store's disk"
	[null]="cp into nullfs (FUSE, discards; 1 MiB writes)"
	[null256]="cp into nullfs, 256 KiB writes"
	[sshfs]="sshfs (max_conns=4, aes128-gcm), cp + fsync"
	[p1]="braidfs paths=1"
	[p4]="braidfs paths=4"
	[p1k]="braidfs paths=1, key_file"
	[p4k]="braidfs paths=4, key_file"
	[ap1]="braidfs paths=1 (-A build)"
	[ap4]="braidfs paths=4 (-A build)"
	[ap1k]="braidfs paths=1, key_file (-A build)"
	[ap4k]="braidfs paths=4, key_file (-A build)"
	[p1a]="braidfs paths=1, delivery=async"
	[p4a]="braidfs paths=4, delivery=async"
	[ap1a]="braidfs paths=1, delivery=async (-A build)"
	[ap4a]="braidfs paths=4, delivery=async (-A build)"
)
declare -A RATE=() RANGE=() ALONE=() RSS=() CLI=() SRV=() SESS=() SPORT=() CPU=()

# ------------------------------------------------------- rss and CPU

rss_reset() { echo 5 >"/proc/${D_PID[$1]}/clear_refs"; }
rss_peak() { awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/${D_PID[$1]}/status"; }
# cpu_ticks NAME: user + system time of the daemon so far, in clock ticks
cpu_ticks() { sed 's/.*) //' "/proc/${D_PID[$1]}/stat" | awk '{ print $12 + $13 }'; }
HZ_TICK=$(getconf CLK_TCK)
# busy_ticks: "busy all" clock ticks of the whole machine so far (busy:
# user, nice, system, irq, softirq; all adds idle, iowait and steal), so
# that a round can say how many of the cores the copy kept busy
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }

# ------------------------------------------------------------ the cells

# setup_cells: every daemon, mount and directory of the chosen cells
setup_cells() {
	local c
	mkdir -p "$T/plain" "$T/sshfs-dst"
	for c in "${CELL_LIST[@]}"; do
		case $c in
		null) start_daemon null client "$T/null" "$NULLFS" "$T/null" -o blksize=1048576 -f ;;
		null256) start_daemon null256 client "$T/null256" "$NULLFS" "$T/null256" -o blksize=262144 -f ;;
		sshfs) setup_sshfs ;;
		esac
	done
	for c in "${CELL_LIST[@]}"; do
		[[ $c =~ ^a?p[14][ka]?$ ]] && setup_braidfs "$c"
	done
}

# setup_braidfs CELL: its client, and its server if it has none yet (one
# per build and key)
setup_braidfs() {
	local c=$1 build=$BUILD srv=srv keyopt=() asyncopt=() paths
	paths=${c//[^0-9]/}
	if [[ $c == a* ]]; then
		build=$OTHER srv=asrv
	fi
	if [[ $c == *k ]]; then
		srv+=k keyopt=("key_file=$T/key")
		[[ -f $T/key ]] || (umask 077 && head -c 32 /dev/urandom >"$T/key")
	fi
	[[ $c == *p[14]a ]] && asyncopt=(delivery=async "spool=$T/spool-$c")
	if [[ -z ${SPORT[$srv]:-} ]]; then
		SPORT[$srv]=$(free_port)
		PORT=${SPORT[$srv]} BRAIDFSD=$build/src/server/braidfsd \
			start_server "$srv" "$T/$srv" "$T/store-$srv" "${keyopt[@]}"
	fi
	SRV[$c]=$srv
	CLI[$c]=cli-$c
	PORT=${SPORT[$srv]} BRAIDFS=$build/src/client/braidfs \
		start_client "cli-$c" "$T/cli-$c" "paths=$paths" "label=fast-$c" "${keyopt[@]}" \
		"${asyncopt[@]}" "${EXTRA[@]}"
	SESS[$c]=$(session_for_label "$T/$srv" "fast-$c") || fail "no session directory for $c"
}

setup_sshfs() {
	sshd_start 127.0.0.1 "Ciphers aes128-gcm@openssh.com"
	mkdir -p "$T/sshfs"
	ALL_MOUNTS+=("$T/sshfs")
	run_t 60 sshfs "$SSH_HOST:$T/sshfs-dst" "$T/sshfs" -p "$SSH_PORT" -o "IdentityFile=$T/ssh/id" \
		-o Ciphers=aes128-gcm@openssh.com -o max_conns=4 -o StrictHostKeyChecking=no \
		-o UserKnownHostsFile=/dev/null -o BatchMode=yes ||
		fail "sshfs did not mount (does this sshfs know -o max_conns?)"
}

# sshfs_conns: what each of sshfs's connections carried, as the sshd's
# sockets count it
sshfs_conns() {
	ss -Htni state established "( sport = :$SSH_PORT )" |
		awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^bytes_received:/) { split($i, a, ":"); printf "%s%.0f", n++ ? ", " : "", a[2] / 1048576 } }
			END { if (!n) printf "none" }'
}

# dest_of CELL RUN: where the copy goes; copy_of CELL RUN: where it lands
dest_of() {
	case $1 in
	disk) echo "$T/plain/run$2" ;;
	null | null256) echo "$T/$1/run$2" ;;
	sshfs) echo "$T/sshfs/run$2" ;;
	*) echo "$T/${CLI[$1]}/run$2" ;;
	esac
}
copy_of() {
	case $1 in
	disk) echo "$T/plain/run$2" ;;
	sshfs) echo "$T/sshfs-dst/run$2" ;;
	null | null256) echo "$T/$1/run$2" ;;
	*) echo "${SESS[$1]}/run$2" ;;
	esac
}

# run_cell CELL RUN: one copy; sets DT (until durable, for disk and
# sshfs) and DCP (cp alone)
run_cell() {
	local c=$1 r=$2 dest t0 copy
	dest=$(dest_of "$c" "$r")
	copy=$(copy_of "$c" "$r")
	if [[ -n ${CLI[$c]:-} ]]; then
		rss_reset "${CLI[$c]}"
		rss_reset "${SRV[$c]}"
		CPU0=("$(cpu_ticks "${CLI[$c]}")" "$(cpu_ticks "${SRV[$c]}")")
	fi
	read -r -a BUSY0 <<<"$(busy_ticks)"
	t0=$(now)
	run_t 900 cp "$T/src/file.bin" "$dest" || fail "$c: cp failed (run $r)"
	DCP=$(elapsed "$t0")
	case $c in
	disk | sshfs) sync "$copy" "$(dirname "$copy")" ;;
	*p[14]a) wait_spool_empty "$T/${CLI[$c]}" 900 || fail "$c: the spool did not drain (run $r)" ;;
	esac
	DT=$(elapsed "$t0")
	read -r -a BUSY1 <<<"$(busy_ticks)"
	BUSY=$(awk -v b="$((BUSY1[0] - BUSY0[0]))" -v a="$((BUSY1[1] - BUSY0[1]))" -v n="$(nproc)" \
		'BEGIN { printf "%.2f", (a > 0 ? b / a * n : 0) }')
	if [[ -n ${CLI[$c]:-} ]]; then
		# us of CPU per chunk of 256 KiB, client and server
		CPUS=$(awk -v c="$(($(cpu_ticks "${CLI[$c]}") - CPU0[0]))" -v s="$(($(cpu_ticks "${SRV[$c]}") - CPU0[1]))" \
			-v hz="$HZ_TICK" -v n="$((SIZE / 262144))" 'BEGIN { printf "%.0f %.0f", c / hz * 1e6 / n, s / hz * 1e6 / n }')
	fi
}

# check_cell CELL RUN: the copy is the source (nullfs: has its size)
check_cell() {
	local c=$1 r=$2 copy
	copy=$(copy_of "$c" "$r")
	if [[ $c == null* ]]; then
		assert_eq "$SIZE" "$(stat -c %s "$copy")" "$c: nullfs took all $SIZE bytes"
	else
		check "$c: the copy equals the source" cmp "$T/src/file.bin" "$copy"
	fi
}

# ------------------------------------------------------------------ run

need_space $((MIB * 3 + 500))
note "machine: $(nproc) CPU(s), $(awk '/MemTotal/ { printf "%d MiB", $2 / 1024 }' /proc/meminfo), kernel $(uname -r)"
note "cpu: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
note "store's disk: $(df -PT "$T" | awk 'NR == 2 { print $1 " (" $2 ")" }'), source in a tmpfs"
note "braidfs: $("$BRAIDFS" -V 2>&1 | head -n 1), commit $(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$HERE/.." diff --quiet HEAD -- src include 2>/dev/null || echo ' (+ uncommitted changes in src/include)')"
note "client options: ${OPTS:-defaults}; $WARMUP warm-up round(s), then $RUNS timed (median, range)"
note "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"

# hold_reporting: -M (see the usage). Order 11 is past the buddy
# allocator's largest, so no free block is reported while it is set.
REPORTING_KNOB=/sys/module/page_reporting/parameters/page_reporting_order
REPORTING_WAS=
# shellcheck disable=SC2317 # run by the cleanup (on_cleanup)
release_reporting() { [[ -z $REPORTING_WAS ]] || echo "$REPORTING_WAS" >"$REPORTING_KNOB"; }
hold_reporting() {
	local free_mib t0
	[[ -w $REPORTING_KNOB ]] || fail "-M: no $REPORTING_KNOB (this kernel does not report free pages)"
	REPORTING_WAS=$(cat "$REPORTING_KNOB")
	on_cleanup release_reporting
	echo 11 >"$REPORTING_KNOB"
	free_mib=$(awk '/^MemFree/ { print int($2 / 1024) - 2048 }' /proc/meminfo)
	((free_mib > 0)) || return 0
	mkdir -p "$T/warm"
	mount -t tmpfs -o size=$((free_mib + 64))m tmpfs "$T/warm"
	EXTRA_MOUNTS+=("$T/warm")
	t0=$(now)
	dd if=/dev/zero of="$T/warm/zeros" bs=1M count="$free_mib" status=none ||
		fail "-M: could not write $free_mib MiB into a tmpfs"
	note "-M: free page reporting held (order $REPORTING_WAS -> 11); $free_mib MiB of free memory written once in $(elapsed "$t0") s"
	umount "$T/warm"
}
((HOLD_REPORTING)) && hold_reporting

mkdir -p "$T/src"
mount -t tmpfs -o size=$((MIB + 64))m tmpfs "$T/src"
EXTRA_MOUNTS+=("$T/src")
head -c $((MIB << 20)) /dev/urandom >"$T/src/file.bin"
SIZE=$((MIB << 20))
setup_cells

T_ALL=$(now)
declare -A TIMES=() CPS=()
n=${#CELL_LIST[@]}
for ((r = 1 - WARMUP; r <= RUNS; r++)); do
	what="round $r"
	((r < 1)) && what="warm-up"
	note "$what, load average $(cut -d' ' -f1 /proc/loadavg)"
	for ((i = 0; i < n; i++)); do
		c=${CELL_LIST[$(((i + r + WARMUP) % n))]}
		sync -f "$T"   # nothing of the last cell left to write back
		run_cell "$c" "$r"
		extra=", $BUSY of $(nproc) cores busy"
		[[ $c == disk || $c == sshfs || $c == *p[14]a ]] && extra+=" (cp alone $DCP s)"
		if [[ -n ${CLI[$c]:-} ]]; then
			extra+=", peak RSS client $(rss_peak "${CLI[$c]}") MiB, server $(rss_peak "${SRV[$c]}") MiB"
			extra+=", CPU us per 256 KiB client ${CPUS% *}, server ${CPUS#* }"
			RSS[$c]="$(rss_peak "${CLI[$c]}") $(rss_peak "${SRV[$c]}") ${RSS[$c]:-}"
			((r >= 1)) && CPU[$c]+="$CPUS "
		fi
		printf '   %-8s %6s s, %5s MiB/s%s\n' "$c" "$DT" "$(mibps "$SIZE" "$DT")" "$extra"
		if ((r >= 1)); then
			TIMES[$c]+="$DT "
			CPS[$c]+="$DCP "
			((r == 1)) && check_cell "$c" "$r"
		fi
		rm -f "$(copy_of "$c" "$r")" || echo "   (could not remove $(copy_of "$c" "$r"))"
	done
done
[[ ,$CELLS, == *,sshfs,* ]] && note "sshfs's connections, MiB each carried: $(sshfs_conns)"
note "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); $(elapsed "$T_ALL") s of rounds"
stop_all
if [[ ,$CELLS, == *,sshfs,* ]]; then
	unmount "$T/sshfs"
	sshd_stop
fi
check_sanitizers

# ---------------------------------------------------------------- table

# median MiB/s of each cell, the range of its runs, and of cp alone
for c in "${CELL_LIST[@]}"; do
	rates=()
	for t in ${TIMES[$c]}; do rates+=("$(mibps "$SIZE" "$t")"); done
	RATE[$c]=$(median "${rates[@]}")
	RANGE[$c]=$(range "${rates[@]}")
	rates=()
	for t in ${CPS[$c]}; do rates+=("$(mibps "$SIZE" "$t")"); done
	ALONE[$c]=$(median "${rates[@]}")
done

# per-round ratio range: CELL REF -> "lo-hi"
round_ratios() {
	local -a a b q=()
	read -r -a a <<<"${TIMES[$1]}"
	read -r -a b <<<"${TIMES[$2]}"
	for ((i = 0; i < ${#a[@]}; i++)); do q+=("$(fdiv "${b[i]}" "${a[i]}")"); done
	range "${q[@]}"
}
# ratio CELL REF: "x.xx (lo-hi)" or empty
ratio() {
	[[ -n ${RATE[$2]:-} && $1 != "$2" ]] || return 0
	printf '%s (%s)' "$(fdiv "${RATE[$1]}" "${RATE[$2]}")" "$(round_ratios "$1" "$2")"
}

echo
# cpu_med CELL: median client/server CPU us per chunk
cpu_med() {
	[[ -n ${CPU[$1]:-} ]] || return 0
	local odd
	for odd in 1 0; do
		tr -s ' ' '\n' <<<"${CPU[$1]}" | awk -v o="$odd" 'NF && NR % 2 == o' | sort -g |
			awk '{ v[NR] = $1 } END { printf "%s", v[int((NR + 1) / 2)] }'
		((odd)) && printf /
	done
}

echo "$MIB MiB from a tmpfs, MiB/s (2^20 bytes/s), median of $RUNS (range); ratios of the medians (range within rounds);"
echo "braidfs: peak RSS (the largest of the runs) and CPU us per 256 KiB of file (median), client/server"
printf '%-50s %15s %17s %17s %9s %10s\n' "" "MiB/s" "x disk" "x sshfs" "RSS MiB" "CPU us"
for c in "${CELL_LIST[@]}"; do
	rss=
	if [[ -n ${RSS[$c]:-} ]]; then
		read -r -a peaks <<<"${RSS[$c]}"
		rss=$(printf '%s\n' "${peaks[@]}" | paste - - | awk '{ if ($1 > a) a = $1; if ($2 > b) b = $2 } END { printf "%d/%d", a, b }')
	fi
	printf '%-50s %15s %17s %17s %9s %10s\n' "${TITLE[$c]}" "${RATE[$c]} (${RANGE[$c]})" \
		"$(ratio "$c" disk)" "$(ratio "$c" sshfs)" "$rss" "$(cpu_med "$c")"
done
for c in disk sshfs p1a p4a ap1a ap4a; do
	alone="cp alone (no fsync)"
	[[ $c == disk || $c == sshfs ]] || alone="cp alone (until spooled)"
	[[ -n ${ALONE[$c]:-} ]] && printf '%-50s %14s\n' "  ${c}: $alone" "${ALONE[$c]}"
done
echo
echo "issue 16's goals:"
goal() {
	local c=$1 ref=$2 want=$3 v
	[[ -n ${RATE[$c]:-} && -n ${RATE[$ref]:-} ]] || return 0
	v=$(fdiv "${RATE[$c]}" "${RATE[$ref]}")
	printf '  %-30s %s x %-6s (goal >= %s): %s\n' "${TITLE[$c]}" "$v" "$ref" "$want" \
		"$(awk -v v="$v" -v w="$want" 'BEGIN { print (v >= w ? "met" : "not met") }')"
}
goal p4 disk 0.7
goal p4 sshfs 2.5
goal p4k disk 0.6

((FAILS == 0)) || fail "$FAILS check(s) failed: the figures above are not trustworthy"
exit 0
