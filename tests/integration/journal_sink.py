#!/usr/bin/env python3
"""A stand-in for systemd-journald, for log-journal.sh (which runs it in a
private mount namespace with a tmpfs on /run).

  journal_sink.py listen DIR ENTRIES STREAM
      binds DIR/socket (datagrams in journald's native protocol, as GLib's
      g_log_writer_journald sends them) and DIR/stdout (the stream a unit's
      stdout/stderr is connected to); writes each entry as one JSON object
      per line to ENTRIES and whatever arrives on the streams to STREAM;
      creates DIR/ready once both listen; runs until killed.

  journal_sink.py stderr-to SOCKET -- COMMAND...
      connects to the stream socket SOCKET, makes it stderr, and executes
      COMMAND (which keeps this process id), as systemd does for a unit.
"""
import json
import os
import selectors
import socket
import struct
import sys


def parse_entry(data):
    """journald's native protocol: KEY=VALUE\\n, or KEY\\n + le64 size +
    bytes + \\n for values that may hold newlines."""
    fields = {}
    pos = 0
    while pos < len(data):
        nl = data.index(b"\n", pos)
        line = data[pos:nl]
        if b"=" in line:
            key, _, value = line.partition(b"=")
            pos = nl + 1
        else:
            key = line
            (size,) = struct.unpack_from("<Q", data, nl + 1)
            start = nl + 1 + 8
            value = data[start:start + size]
            pos = start + size + 1
        fields[key.decode()] = value.decode(errors="replace")
    return fields


def listen(directory, entries_path, stream_path):
    os.makedirs(directory, exist_ok=True)
    dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dgram.bind(os.path.join(directory, "socket"))
    stream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stream.bind(os.path.join(directory, "stdout"))
    stream.listen(8)
    entries = open(entries_path, "a", buffering=1)
    streamed = open(stream_path, "ab", buffering=0)
    sel = selectors.DefaultSelector()
    sel.register(dgram, selectors.EVENT_READ, "dgram")
    sel.register(stream, selectors.EVENT_READ, "accept")
    open(os.path.join(directory, "ready"), "w").close()
    while True:
        for key, _ in sel.select():
            if key.data == "dgram":
                data, fds, _, _ = socket.recv_fds(dgram, 1 << 20, 4)
                for fd in fds:  # a large entry comes as a memfd
                    with os.fdopen(fd, "rb") as f:
                        data = f.read()
                entries.write(json.dumps(parse_entry(data)) + "\n")
            elif key.data == "accept":
                conn, _ = stream.accept()
                sel.register(conn, selectors.EVENT_READ, "conn")
            else:
                chunk = key.fileobj.recv(65536)
                if chunk:
                    streamed.write(chunk)
                else:
                    sel.unregister(key.fileobj)
                    key.fileobj.close()


def stderr_to(path, command):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    os.dup2(s.fileno(), 2)
    s.close()
    os.execvp(command[0], command)


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "listen":
        listen(*sys.argv[2:])
    elif len(sys.argv) > 4 and sys.argv[1] == "stderr-to" and sys.argv[3] == "--":
        stderr_to(sys.argv[2], sys.argv[4:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
