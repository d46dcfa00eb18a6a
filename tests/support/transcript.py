"""Byte-exact transcripts of several connections, for differential tests of pushes.

A script is a list of steps ``(name, argv)``: ``argv`` is sent on connection
``name``, then every connection is synchronised (``PING <marker>``, allowed in
every mode, MONITOR and RESP2 subscribed mode included) so what each received
since the last step is read as raw bytes, in order: replies, RESP3 pushes,
``__redis__:invalidate`` messages and MONITOR lines alike. Nothing is waited for
by time: each server has sent a push before it answers the next command on that
connection. A step ``(name, ["<send>", *argv])`` sends a command that blocks and
reads its answer with the next step's markers. In MULTI a connection's one-line
answers are read instead of a marker
(it would be queued); under CLIENT REPLY OFF, another connection's CLIENT LIST
shows when it ran its command, and what it got is read once replies are on.

What differs by nature between two servers is rewritten: client ids where they
appear (as ``<name>``), MONITOR's timestamps and client addresses, and the lines
MONITOR shows for the markers themselves.
"""

from __future__ import annotations

import re
import socket
from typing import Sequence

from tests.support.resp_client import encode_command

__all__ = ["Session", "transcript"]

Argv = Sequence[bytes | str | int]
_MONITOR = re.compile(rb"\+\d+\.\d{6} \[(\d+) ([^\]]+)\] ")


class Session:
    """Named raw connections to one server."""

    def __init__(self, port: int, names: Sequence[str], timeout: float = 10.0) -> None:
        self.port = port
        self.conns: dict[str, socket.socket] = {}
        self.ids: dict[str, int] = {}
        self.addrs: dict[bytes, str] = {}
        self.buffers: dict[str, bytes] = {}
        self.marker = 0
        # bytes read past a marker's reply, for the next read
        self.carried: dict[str, bytes] = {}
        # connections under CLIENT REPLY OFF|SKIP, and in MULTI
        self.muted: set[str] = set()
        self.queuing: set[str] = set()
        # a connection outside the transcript, to look at the others
        self.admin = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        for name in names:
            sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            self.conns[name] = sock
            host, local = sock.getsockname()[:2]
            self.addrs[f"{host}:{local}".encode()] = name
            self.buffers[name] = b""
            self.ids[name] = int(self._call(name, ["CLIENT", "ID"])[1:-2])

    def _call(self, name: str, argv: Argv) -> bytes:
        self.conns[name].sendall(encode_command(*argv))
        data = b""
        while not data.endswith(b"\r\n"):
            data += self.conns[name].recv(1 << 16)
        return data

    def step(self, name: str, argv: Argv) -> None:
        argv = [self._substitute(arg) for arg in argv]
        if argv and argv[0] == "<send>":
            # a command that blocks: sent, seen blocked (flag b), read with the next
            # step's markers
            self.conns[name].sendall(encode_command(*argv[1:]))
            self._confirm(name, "", "", flag=b"b")
            return self.sync(name, skip=name)
        before = len(self.buffers[name])
        if [str(arg).lower() for arg in argv[:2]] == ["client", "reply"]:
            # no marker reply while muted: what it gets is read once it is on again
            (self.muted.add if str(argv[2]).lower() != "on" else self.muted.discard)(name)
        command = str(argv[0]).lower()
        queuing = name in self.queuing
        if command == "multi":
            self.queuing.add(name)  # a marker would be queued
        elif command in ("exec", "discard"):
            self.queuing.discard(name)
        self.conns[name].sendall(encode_command(*argv))
        if queuing or name in self.queuing:
            # MULTI and what it queues answer one line each (+OK, +QUEUED, -ERR)
            self.buffers[name] += self._line(name)
            if command not in ("exec", "discard"):
                return self.sync(name, skip=name)
        elif name in self.muted:
            self._confirm(name, command, str(argv[1]).lower() if len(argv) > 1 else "")
        self.sync(name)
        if [str(arg).lower() for arg in argv[:2]] in (["client", "getredir"], ["client", "id"]):
            # the reply is a bare client id: named here, where it cannot be a count
            # (the first line that is one; a monitor's lines may come before it)
            head, new = self.buffers[name][:before], self.buffers[name][before:]
            lines = new.split(b"\r\n")
            for index, line in enumerate(lines):
                named = {b":%d" % cid: b":<%s>" % other.encode() for other, cid in self.ids.items()}
                if line in named:
                    lines[index] = named[line]
                    break
            self.buffers[name] = head + b"\r\n".join(lines)

    def close_conn(self, name: str) -> None:
        """Close one connection (a redirect client going away) and wait until the
        server has noticed: CLIENT LIST on another connection no longer shows it."""
        self.conns.pop(name).close()
        wanted = b"id=%d " % self.ids[name]
        for _ in range(100_000):
            self.admin.sendall(encode_command("CLIENT", "LIST"))
            listing = self._read_bulk(self.admin)
            if wanted not in listing:
                return
        raise AssertionError(f"server never saw {name} close")

    @staticmethod
    def _read_bulk(sock: socket.socket) -> bytes:
        # one bulk or verbatim reply (CLIENT LIST), read by its length
        data = b""
        while b"\r\n" not in data:
            data += sock.recv(1 << 16)
        header, rest = data.split(b"\r\n", 1)
        size = int(header[1:])
        while len(rest) < size + 2:
            rest += sock.recv(1 << 16)
        return rest[:size]

    def _line(self, name: str) -> bytes:
        data = self.carried.pop(name, b"")
        while b"\r\n" not in data:
            data += self.conns[name].recv(1 << 16)
        line, self.carried[name] = data.split(b"\r\n", 1)
        return line + b"\r\n"

    def _confirm(self, name: str, command: str, sub: str, flag: bytes = b"") -> None:
        """A connection under CLIENT REPLY OFF answers nothing: wait until another
        connection sees (CLIENT LIST's cmd=, hidden from MONITOR) that it ran ``command``
        (or, with ``flag``, that its flags= show it)."""
        wanted = (b"cmd=%s " % command.encode(), b"cmd=%s|%s " % (command.encode(), sub.encode()))
        for _ in range(100_000):
            self.admin.sendall(encode_command("CLIENT", "LIST", "ID", self.ids[name]))
            listing = self._read_bulk(self.admin)
            if flag:
                if flag in listing.split(b" flags=", 1)[1].split(b" ", 1)[0]:
                    return
            elif any(text in listing for text in wanted):
                return
        raise AssertionError(f"{name} never ran {command or 'into ' + flag.decode()}")

    def sync(self, first: str, skip: str = "") -> None:
        """Read each connection up to the reply of a marker PING (``first`` first)."""
        for name in [first] + [n for n in self.conns if n != first]:
            if name in self.muted or name in self.queuing or name == skip:
                continue
            self.marker += 1
            marker = b"sync%d" % self.marker
            sock = self.conns[name]
            sock.sendall(encode_command("PING", marker))
            data = self.carried.pop(name, b"")
            reply = b"$%d\r\n%s\r\n" % (len(marker), marker)
            while reply not in data:
                chunk = sock.recv(1 << 16)
                if not chunk:
                    raise ConnectionError(f"{name} closed by the server")
                data += chunk
            # what came after the marker's reply (a monitor's line for its own PING)
            data, self.carried[name] = data.split(reply, 1)
            # the marker's reply: a bulk, or RESP2 subscribed mode's [pong, marker]
            if data.endswith(b"*2\r\n$4\r\npong\r\n"):
                data = data[: -len(b"*2\r\n$4\r\npong\r\n")]
            self.buffers[name] += data

    def _substitute(self, arg: bytes | str | int) -> bytes | str | int:
        if isinstance(arg, str) and arg.startswith("{") and arg.endswith("}") and arg[1:-1] in self.ids:
            return str(self.ids[arg[1:-1]])
        return arg

    def take(self) -> dict[str, bytes]:
        """What each connection received since the last take, normalised."""
        out = {name: self._normalise(data) for name, data in self.buffers.items()}
        self.buffers = {name: b"" for name in self.buffers}
        return out

    def _normalise(self, data: bytes) -> bytes:
        def monitor(match: re.Match[bytes]) -> bytes:
            source = match.group(2)
            return b"+TIME [%s %s] " % (match.group(1), self.addrs.get(source, "?").encode()
                                         if source != b"lua" else b"lua")
        data = _MONITOR.sub(monitor, data)
        # monitor lines of the markers themselves
        data = re.sub(rb'\+TIME \[\d+ [^\]]+\] "PING" "sync\d+"\r\n', b"", data)
        for name, cid in self.ids.items():
            # where a client id appears (not any integer: counts may equal an id)
            for context in (b"$8\r\nredirect\r\n:", b"$21\r\ntracking-redir-broken\r\n:", b"$2\r\nid\r\n:"):
                data = data.replace(context + b"%d\r\n" % cid, context + b"<%s>\r\n" % name.encode())
        return data

    def close(self) -> None:
        for sock in [*self.conns.values(), self.admin]:
            sock.close()


def transcript(port: int, names: Sequence[str], script: Sequence[tuple[str, Argv]]) -> list[tuple[str, dict[str, bytes]]]:
    """Run ``script`` on a fresh set of connections; per step, what each one got."""
    session = Session(port, names)
    try:
        session.step(names[0], ["FLUSHALL"])
        session.take()
        steps = []
        for name, argv in script:
            if argv == ["<close>"]:
                session.close_conn(name)
                session.buffers.pop(name, None)
            else:
                session.step(name, argv)
            steps.append((f"{name}: {' '.join(map(str, argv))}", session.take()))
        return steps
    finally:
        session.close()
