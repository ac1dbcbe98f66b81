#!/usr/bin/env python3
"""relay.py: a userspace TCP relay for the multipath tests (netem is not
available in the test kernel, so stalls and delay are made here).

usage: relay.py LISTEN_ADDR:PORT TARGET_ADDR:PORT [--rcvbuf BYTES]
                [--delay MS] [--stalled] [--flip-after N [--flip-dir c2s|s2c]]

Every connection accepted on LISTEN is forwarded to a new connection to
TARGET, byte for byte, in both directions. At run time:

  SIGUSR1  stall: stop forwarding in both directions. Nothing is closed and
           nothing is answered with an error: the relay just stops reading
           (and holds at most one buffer it had read already), so the
           sender's TCP sees its window close and then zero-window probes
           answered, as behind a link that went silent. Its socket buffers
           are small (--rcvbuf) so this happens after a few tens of KiB.
           Once no write that began before the stall is still under way
           (the counts can no longer change) it logs "stalled and quiet
           (relayed: ...)": relay_stall (relay.sh) waits for that line.
  SIGUSR2  pass: resume forwarding (what was held is delivered in order).
  SIGTERM  exit (the connections are closed).

--delay MS adds a fixed one-way delay to each direction (data read at t is
written at t + MS), with back-pressure: at most 64 buffers wait per
direction. --stalled starts in the stalled state.

--flip-after N flips one bit (the lowest) of byte N (from 0) of one
connection's client->server stream (--flip-dir s2c: server->client): of
the first connection whose stream reaches byte N, once in the relay's life.
It logs "flipped bit 0 of byte N of connection K c2s".

It prints "relay: listening on ADDR:PORT" once ready, and a line per
connection and per state change (with the bytes relayed so far), flushed,
on stdout. Python 3 standard library only.
"""

import argparse
import queue
import select
import signal
import socket
import sys
import threading
import time

BUF = 16384


def log(msg):
    print(f"{time.strftime('%H:%M:%S')}.{int(time.time() * 1000) % 1000:03d} relay: {msg}",
          flush=True)


def parse_addr(s):
    host, _, port = s.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"not ADDR:PORT: {s}")
    return host.strip("[]"), int(port)


class Relay:
    def __init__(self, listen, target, rcvbuf, delay, stalled, flip_after=None,
                 flip_dir="c2s"):
        self.listen, self.target = listen, target
        self.flip_after, self.flip_dir = flip_after, flip_dir
        self.rcvbuf, self.delay = rcvbuf, delay / 1000.0
        self.passing = threading.Event()
        if not stalled:
            self.passing.set()
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)   # passing, sending
        self.sending = 0        # writes under way (guarded by lock)
        self.bytes = {"c2s": 0, "s2c": 0}
        self.conns = 0

    def small(self, s):
        # Small buffers, so that a stall stops the sender soon. On the
        # listening socket, before listen(): accepted sockets inherit it,
        # and the window scale is chosen at the handshake.
        if self.rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.rcvbuf)

    def set_passing(self, on):
        with self.cond:
            if on == self.passing.is_set():
                return
            if on:
                self.passing.set()
            else:
                self.passing.clear()
            self.cond.notify_all()
            b = dict(self.bytes)
        log(f"{'pass' if on else 'stalled'} (relayed so far: "
            f"client->server {b['c2s']} bytes, server->client {b['s2c']} bytes)")
        if not on:
            threading.Thread(target=self.report_quiet, daemon=True).start()

    def report_quiet(self):
        """Logs once the writes that began before the stall have ended."""
        with self.cond:
            while self.sending > 0 and not self.passing.is_set():
                self.cond.wait(0.5)
            if self.passing.is_set():
                return
            b = dict(self.bytes)
        log(f"stalled and quiet (relayed: client->server {b['c2s']} bytes, "
            f"server->client {b['s2c']} bytes)")

    def wait_passing(self):
        while not self.passing.wait(0.5):
            pass

    def count(self, way, n):
        with self.lock:
            self.bytes[way] += n

    def maybe_flip(self, data, offset, way, conn):
        """Flips the bit of --flip-after if this piece holds that byte."""
        n = self.flip_after
        if n is None or way != self.flip_dir or not offset <= n < offset + len(data):
            return data
        with self.lock:
            if self.flip_after is None:
                return data
            self.flip_after = None
        data = bytearray(data)
        data[n - offset] ^= 1
        log(f"flipped bit 0 of byte {n} of connection {conn} {way}")
        return bytes(data)

    def pump(self, src, dst, way, done, conn=0):
        """Copy src -> dst until EOF or an error; honours stall and delay."""
        q = None
        offset = 0
        if self.delay > 0:
            q = queue.Queue(maxsize=64)
            threading.Thread(target=self.delayed_writer, args=(q, dst, way, done),
                             daemon=True).start()
        try:
            while True:
                self.wait_passing()
                r, _, _ = select.select([src], [], [], 0.2)
                if not r:
                    continue
                data = src.recv(BUF)
                data = self.maybe_flip(data, offset, way, conn)
                offset += len(data)
                if q is not None:
                    q.put((time.monotonic() + self.delay, data))
                    if not data:
                        return
                    continue
                if not self.deliver(dst, data, way):
                    return
        except OSError as e:
            log(f"{way}: {e}")
            if q is not None:
                q.put((0, None))
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        finally:
            if q is None:
                done.release()

    def deliver(self, dst, data, way):
        """Passes data on (b"" is the end of that direction). False at
        the end."""
        if not data:
            dst.shutdown(socket.SHUT_WR)
            return False
        # No write begins while stalled (checked under the lock that
        # set_passing takes), so report_quiet can tell when they are over.
        with self.cond:
            while not self.passing.is_set():
                self.cond.wait(0.5)
            self.sending += 1
        try:
            dst.sendall(data)
            self.count(way, len(data))
        finally:
            with self.cond:
                self.sending -= 1
                self.cond.notify_all()
        return True

    def delayed_writer(self, q, dst, way, done):
        try:
            while True:
                due, data = q.get()
                if data is None:
                    return
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if not self.deliver(dst, data, way):
                    return
        except OSError as e:
            log(f"{way} (delayed): {e}")
            try:
                dst.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        finally:
            done.release()

    def handle(self, client, peer):
        try:
            up = socket.socket(socket.AF_INET6 if ":" in self.target[0] else socket.AF_INET)
            self.small(up)
            up.settimeout(10)
            up.connect(self.target)
            up.settimeout(None)
        except OSError as e:
            log(f"connection from {peer[0]}:{peer[1]}: cannot reach target: {e}")
            client.close()
            return
        # Like braidfs's own sockets: a relay that held small frames back
        # for Nagle's algorithm would add delay no link has.
        for s in (client, up):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.lock:
            self.conns += 1
            n = self.conns
        log(f"connection {n} from {peer[0]}:{peer[1]}")
        done = threading.Semaphore(0)
        for a, b, way in ((client, up, "c2s"), (up, client, "s2c")):
            threading.Thread(target=self.pump, args=(a, b, way, done, n),
                             daemon=True).start()
        done.acquire()
        done.acquire()
        client.close()
        up.close()
        log(f"connection {n} closed")

    def serve(self):
        fam = socket.AF_INET6 if ":" in self.listen[0] else socket.AF_INET
        ls = socket.socket(fam, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.small(ls)
        ls.bind(self.listen)
        ls.listen(16)
        host, port = ls.getsockname()[:2]
        log(f"listening on {host}:{port} -> {self.target[0]}:{self.target[1]}"
            f"{' (stalled)' if not self.passing.is_set() else ''}"
            f"{f', delay {self.delay * 1000:g} ms' if self.delay else ''}")
        while True:
            c, peer = ls.accept()
            threading.Thread(target=self.handle, args=(c, peer), daemon=True).start()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("listen", type=parse_addr)
    ap.add_argument("target", type=parse_addr)
    ap.add_argument("--rcvbuf", type=int, default=65536,
                    help="SO_RCVBUF/SO_SNDBUF of both sockets (0: system default)")
    ap.add_argument("--delay", type=float, default=0, help="one-way delay, ms")
    ap.add_argument("--stalled", action="store_true", help="start stalled")
    ap.add_argument("--flip-after", type=int, default=None,
                    help="flip the lowest bit of byte N of one stream, once")
    ap.add_argument("--flip-dir", choices=("c2s", "s2c"), default="c2s")
    a = ap.parse_args()
    r = Relay(a.listen, a.target, a.rcvbuf, a.delay, a.stalled, a.flip_after,
              a.flip_dir)
    signal.signal(signal.SIGUSR1, lambda *_: r.set_passing(False))
    signal.signal(signal.SIGUSR2, lambda *_: r.set_passing(True))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        r.serve()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
