#!/usr/bin/env python3
"""bench/fast-profile.py — the reports of bench/fast-profile.sh.

Reads what the profilers left for one copy: `perf script` output of
cpu-clock samples with call chains for each daemon, bpftrace's off-CPU map
(bench/fast-offcpu.bt) and the threads' /proc schedstat before and after.
Prints, per daemon:

  on-CPU   the CPU time by what it was spent on: each sample is classified
           by its call chain (the first rule that matches, below), as % of
           one core over the copy and as microseconds per chunk;
  threads  per kind of thread (by name): how many, time running and time
           waiting for a CPU (schedstat), and the time off the CPU by
           reason (bpftrace: the kernel stack where it blocked; "preempted"
           is time taken away while runnable). Thread-seconds per second
           of the copy (= threads busy that way on average), and per chunk;
  fsyncs   the server's fsync calls, when they started and how long they
           took.
"""
import argparse
import collections
import re
import sys

KERNEL = "[kernel.kallsyms]"
COPY = re.compile(r"copy_user|rep_movs|_copy_to_iter|_copy_from_iter|memcpy|"
                  r"copy_page|memmove|copy_to_user|copy_from_user|fuse_copy_do")

# kernel work, by the call that asked for it (first match, whole chain)
KERNEL_RULES = [
    (r"^(finish_task_switch|__schedule|schedule)", "context switches", 3),
    (r"fuse_dev_(do_)?read|fuse_dev_splice_read", "FUSE: read a request from /dev/fuse", 0),
    (r"fuse_dev_(do_)?write|fuse_dev_splice_write", "FUSE: write a reply", 0),
    (r"tcp_sendmsg", "TCP send (with loopback delivery)", 0),
    (r"tcp_recvmsg", "TCP receive", 0),
    (r"ext4_sync_file|do_fsync|file_write_and_wait|jbd2", "fsync", 0),
    (r"balance_dirty_pages", "pwrite throttled (dirty pages)", 0),
    (r"sys_pwrite64|ext4_buffered_write_iter|generic_perform_write", "pwrite into the page cache", 0),
    (r"sys_pread64|filemap_read", "pread from the page cache", 0),
    (r"futex", "futex (locks, condition variables)", 0),
    (r"do_sys_poll|sys_poll|eventfd", "poll, eventfd", 0),
    (r"exc_page_fault|do_user_addr_fault", "page faults", 0),
    (r"sys_(openat|close|unlinkat|unlink|renameat2?|newfstatat|fstat|fchmod|"
     r"utimensat|fallocate|ftruncate|mkdirat)|do_sys_open|path_openat",
     "file metadata (open, rename, stat, ...)", 0),
    (r"madvise|munmap|mmap|sys_brk|mprotect", "mmap, munmap, madvise", 0),
    (r"net_rx_action|netif_receive|tcp_v4_rcv|ip_rcv|process_backlog", "TCP/IP receive (softirq)", 0),
    (r"irq|softirq|apic_timer|hrtimer", "interrupts, timers", 0),
]

USER_RULES = [
    (r"blake3", "BLAKE3 digest (src/blake3)"),
    (r"SHA256|sha256", "SHA-256 digest (OpenSSL)"),
    (r"crc32_iscsi|bf_crc32c", "CRC32C (ISA-L)"),
    (r"bf_seal_frame|seal_iov|seal_frames|EVP_Encrypt|gcry_cipher_encrypt",
     "AEAD seal (OCB: libgcrypt, GCM: OpenSSL)"),
    (r"bf_open_frame|EVP_Decrypt|gcry_cipher_decrypt",
     "AEAD open (OCB: libgcrypt, GCM: OpenSSL)"),
    (r"crypto_generichash|blake2b", "BLAKE2b (libsodium)"),
]


def parse_samples(path):
    """perf script -F comm,tid,period,event,ip,sym,dso ->
    [(comm, tid, period, event, frames)] with frames [(sym, dso)],
    innermost first."""
    out = []
    cur = None
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                if cur:
                    out.append(cur)
                cur = None
                continue
            if not line.startswith("\t") and not line.startswith(" "):
                m = re.match(r"^(.*?)\s+(\d+)\s+(\d+)\s+(\S+):\s*$", line)
                if m:
                    cur = (m.group(1), int(m.group(2)), int(m.group(3)), m.group(4), [])
                continue
            if cur is None:
                continue
            m = re.match(r"^\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$", line)
            if m:
                sym = re.sub(r"\+0x[0-9a-f]+$", "", m.group(1))
                cur[4].append((sym, m.group(2)))
    if cur:
        out.append(cur)
    return out


def classify(frames):
    if not frames:
        return "(no call chain)"
    top_sym = frames[0][0]
    # an inlined function belongs to the object of the frame that holds it
    top_dso = next((d for _, d in frames if d != "inlined"), "inlined")
    syms = [s for s, _ in frames]
    if top_dso == KERNEL:
        for pat, name, depth in KERNEL_RULES:
            look = syms[:depth] if depth else syms
            if any(re.search(pat, s) for s in look):
                if name != "context switches" and COPY.search(top_sym):
                    return "kernel: " + name + ": copying"
                return "kernel: " + name
        return "kernel: other"
    for pat, name in USER_RULES:
        if any(re.search(pat, s) for s in syms):
            return name
    if re.search(r"memcpy|memmove|memset", top_sym):
        mine = next((s for s, d in frames if "/braidfs" in d or "/braidfsd" in d), None)
        return "memcpy/memset in " + (mine or "libraries")
    if "libfuse3" in top_dso:
        return "libfuse"
    if "libglib" in top_dso:
        return "GLib"
    if "libcrypto" in top_dso:
        return "OpenSSL, other"
    if "libc.so" in top_dso:
        if re.search(r"mutex|lll_|cond|futex", top_sym):
            return "libc: locks"
        if re.search(r"malloc|free|_int_|cfree|realloc|tcache", top_sym):
            return "libc: malloc, free"
        return "libc: other"
    if "/braidfs" in top_dso:
        return "braidfs code (%s)" % top_sym
    return "other (%s)" % top_dso.rsplit("/", 1)[-1]


def call_site(frames, depth=3):
    """The innermost functions of braidfs itself in a call chain."""
    own = [s for s, d in frames if re.search(r"/braidfsd?$", d) or
           (d == "inlined" and not re.match(r"__|g_|bf_mutex", s))]
    return " < ".join(own[:depth]) or "(outside braidfs)"


def futex_sites(name, samples, top=6):
    """Where the threads blocked on a futex, by braidfs call site: counts of
    the switches out (perf's sched_switch samples carry the user stack
    that bpftrace cannot walk)."""
    sites = collections.defaultdict(collections.Counter)
    for comm, _tid, _period, event, frames in samples:
        if event != "sched:sched_switch" or not any("futex" in s for s, _ in frames):
            continue
        sites[role(comm)][call_site(frames)] += 1
    if not sites:
        return
    print("%s: futex waits by call site (share of the switches out on a futex)" % name)
    for r, c in sorted(sites.items(), key=lambda kv: -sum(kv[1].values())):
        n = sum(c.values())
        print("  %s (%d):" % (r, n))
        for site, k in c.most_common(top):
            print("      %5.1f%%  %s" % (100 * k / n, site))
    print()


def role(comm):
    return {"braidfs": "FUSE workers", "braidfsd": "FUSE workers",
            "path": "path (receiver; server: all its work)", "path-tx": "path-tx (sender)",
            "pool": "finalizer pool (fsync)"}.get(comm, comm)


def on_cpu(name, samples, wall, chunks, top):
    cats = collections.Counter()
    by_comm = collections.Counter()
    for comm, _tid, period, event, frames in samples:
        if event != "cpu-clock":
            continue
        cats[classify(frames)] += period
        by_comm[role(comm)] += period
    total = sum(cats.values())
    print("%s: %.2f CPU-s in %.2f s of copy = %.0f %% of one core; %.0f us per chunk"
          % (name, total / 1e9, wall, 100 * total / 1e9 / wall, total / 1e3 / chunks))
    print("  %-58s %7s %9s %6s" % ("on-CPU, by what", "% core", "us/chunk", "share"))
    shown = 0
    for cat, ns in cats.most_common():
        if shown >= top and ns / total < 0.01:
            break
        print("  %-58s %7.1f %9.1f %5.1f%%" % (cat, 100 * ns / 1e9 / wall, ns / 1e3 / chunks,
                                               100 * ns / total))
        shown += 1
    rest = total - sum(ns for _, ns in cats.most_common(shown))
    if rest > 0:
        print("  %-58s %7.1f %9.1f %5.1f%%" % ("(everything else)", 100 * rest / 1e9 / wall,
                                               rest / 1e3 / chunks, 100 * rest / total))
    print("  %-58s %7s %9s" % ("on-CPU, by thread", "% core", "us/chunk"))
    for r, ns in by_comm.most_common():
        print("  %-58s %7.1f %9.1f" % (r, 100 * ns / 1e9 / wall, ns / 1e3 / chunks))
    print()


def parse_off(text):
    """bpftrace's @off map -> [(pid, comm, blocked, kernel frames, ns)]:
    '@off[PID, COMM, BLOCKED, ' / kernel frames / ']: NS'."""
    out, cur = [], None
    for line in text.splitlines():
        m = re.match(r"^@off\[(\d+), (.*), (\d), $", line)
        if m:
            cur = (int(m.group(1)), m.group(2), m.group(3) == "1", [])
        elif cur is None:
            continue
        elif line.startswith("]: "):
            out.append(cur + (int(line[3:]),))
            cur = None
        elif line.strip():
            cur[3].append(re.sub(r"\+\d+$", "", line.strip()))
    return out

OFF_RULES = [
    (r"fuse_dev_do_read|fuse_dev_read", "waiting for a FUSE request (/dev/fuse)"),
    (r"sk_stream_wait_memory", "send: socket buffer full (peer not reading)"),
    (r"sk_wait_data|tcp_recvmsg", "recv: waiting for data"),
    (r"balance_dirty_pages", "pwrite throttled (dirty pages)"),
    (r"ext4_sync_file|do_fsync|file_write_and_wait|jbd2|folio_wait_writeback|"
     r"wait_on_page_writeback|blk_mq|io_schedule", "disk: fsync, writeback, I/O"),
    (r"futex", "futex (a lock or a condition variable)"),
    (r"do_sys_poll|do_poll", "poll"),
    (r"do_nanosleep|hrtimer_nanosleep|clock_nanosleep", "sleep"),
    (r"rwsem|mutex_lock|down_read|down_write", "kernel lock"),
    (r"generic_perform_write|ext4_buffered_write_iter|sys_pwrite64", "pwrite, other"),
]


def off_reason(blocked, frames):
    # a voluntary preemption point (cond_resched) gives the CPU away too
    if not blocked or any(re.match(r"__cond_resched|preempt_schedule", f) for f in frames[:3]):
        return "preempted (runnable, waiting for a CPU)"
    if not frames:
        return "(stack lost)"
    for pat, name in OFF_RULES:
        if any(re.search(pat, f) for f in frames):
            return name
    rest = [f for f in frames if not re.search(r"schedule|switch|__traceiter", f)]
    return "other: " + (rest[0] if rest else frames[0])


def read_threads(path):
    out = {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) == 5:
                out[int(p[1])] = (int(p[0]), p[2], int(p[3]), int(p[4]))
    return out


def off_cpu(offcpu, pids, names, before, after, wall, chunks):
    text = open(offcpu, errors="replace").read()
    off = collections.defaultdict(collections.Counter)   # (pid, role) -> reason -> ns
    for pid, comm, blocked, ks, ns in parse_off(text):
        off[(pid, role(comm))][off_reason(blocked, ks)] += ns
    fsyncs = [tuple(int(x) for x in l.split()[1:]) for l in text.splitlines()
              if l.startswith("fsync ")]
    # schedstat: running and run-queue time per thread, over the copy
    run = collections.defaultdict(lambda: [0, 0, 0])       # (pid, role) -> n, run, wait
    for tid, (pid, comm, r1, w1) in after.items():
        r0, w0 = (before[tid][2], before[tid][3]) if tid in before else (0, 0)
        k = (pid, role(comm))
        run[k][0] += 1
        run[k][1] += r1 - r0
        run[k][2] += w1 - w0
    for pid, name in zip(pids, names):
        print("%s: threads over the %.2f s of the copy (thread-s per s = threads busy that way"
              " on average; us per chunk)" % (name, wall))
        keys = sorted({k for k in list(run) + list(off) if k[0] == pid},
                      key=lambda k: -run[k][1])
        for k in keys:
            n, r, w = run[k]
            print("  %s: %d thread(s); running %.2f (%.0f us), waiting for a CPU %.2f (%.0f us)"
                  % (k[1], n, r / 1e9 / wall, r / 1e3 / chunks, w / 1e9 / wall, w / 1e3 / chunks))
            traced = 0
            for reason, ns in off[k].most_common():
                traced += ns
                if ns / 1e9 / wall < 0.01:
                    continue
                print("      off-CPU: %-52s %5.2f %8.0f us" % (reason, ns / 1e9 / wall, ns / 1e3 / chunks))
            left = n * wall * 1e9 - r - traced
            if left / 1e9 / wall >= 0.01:
                print("      off-CPU: %-52s %5.2f %8.0f us" % ("(not traced: still off at the end, or lost)",
                                                              left / 1e9 / wall, left / 1e3 / chunks))
        print()
    if fsyncs:
        print("server fsyncs during the copy (start after the copy began, duration):")
        for _tid, start, dur in fsyncs:
            print("  at %.3f s: %.3f s" % (start / 1e9, dur / 1e9))
        print()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wall", type=float, required=True)
    ap.add_argument("--bytes", type=int, required=True)
    ap.add_argument("--chunk", type=int, default=262144)
    ap.add_argument("--client", nargs=2, required=True, help="cpu-clock and sched_switch scripts")
    ap.add_argument("--server", nargs=2, required=True)
    ap.add_argument("--offcpu", required=True)
    ap.add_argument("--pids", type=int, nargs=2, required=True)
    ap.add_argument("--threads", nargs=2, required=True)
    ap.add_argument("--top", type=int, default=14)
    a = ap.parse_args()
    chunks = -(-a.bytes // a.chunk)
    print("%d chunks of %d bytes in %.3f s (%.0f MiB/s)\n"
          % (chunks, a.chunk, a.wall, a.bytes / 1048576 / a.wall))
    on_cpu("client (braidfs)", parse_samples(a.client[0]), a.wall, chunks, a.top)
    on_cpu("server (braidfsd)", parse_samples(a.server[0]), a.wall, chunks, a.top)
    off_cpu(a.offcpu, a.pids, ["client (braidfs)", "server (braidfsd)"],
            read_threads(a.threads[0]), read_threads(a.threads[1]), a.wall, chunks)
    futex_sites("client (braidfs)", parse_samples(a.client[1]))
    futex_sites("server (braidfsd)", parse_samples(a.server[1]))


if __name__ == "__main__":
    sys.exit(main())
