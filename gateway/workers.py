"""``fanout serve --workers N``: every core of one machine.

This process keeps the embedded broker (its RESP port for backend services, and a
unix socket for the workers) and supervises N gateway worker processes. Each
worker is a whole gateway node on the broker's unix socket (``--broker
unix://...``, the RESP backend), and all of them listen on the same HTTP port with
SO_REUSEPORT, so the kernel spreads connections over them. A worker that dies is
started again (its connections leave presence when its heartbeat expires, like
any dead node). SIGINT/SIGTERM stops the workers first (they close their
websockets with 1001), then the broker.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import logging
import os
import signal
import socket
import sys
import tempfile
import time
from typing import TextIO

from gateway.node_view import broker_socket
from gateway.own_keys import is_gateway_key

__all__ = ["run_workers", "tag_line", "worker_argv"]

log = logging.getLogger("fanout.workers")

# A worker that dies sooner than this after starting is restarted after a pause
# (a crash loop must not spin a core).
RESTART_PAUSE = 1.0
# Longest line relayed from a worker's output (asyncio's default of 64 KiB could be
# passed by one log record with a large message); a longer one is dropped, noted.
LINE_LIMIT = 1 << 20


def worker_argv(argv: list[str], unix_path: str | None, http_port: int, index: int = 0,
                count: int = 0, directory: str = "") -> list[str]:
    """The serve command line of a worker: the user's flags, then the overrides
    (argparse keeps the last value of a repeated flag). ``unix_path``: the embedded
    broker's socket; None when the user gave a shared broker (--broker redis://...).
    ``index`` of ``count``: which worker it is, for its /api/info and /metrics;
    ``directory``: where it serves its app privately, for its siblings (gateway.node_view)."""
    broker = ["--broker", f"unix://{unix_path}"] if unix_path else []
    return [sys.executable, "-m", "gateway.cli", "serve", *argv[1:], "--workers", "1", *broker,
            "--resp-port", "-1", "--unix-socket", "", "--http-port", str(http_port), "--reuse-port",
            "--parent-pid", str(os.getpid()), "--worker-index", str(index), "--worker-count", str(count),
            "--worker-dir", directory]


def die_with_parent(parent_pid: int) -> None:
    """A worker must not outlive its supervisor (killed with SIGKILL, say): it would
    keep the HTTP port with a dead broker behind it. Linux sends us SIGTERM then."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:  # it died before we asked
        sys.exit(1)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tag_line(line: str, index: int) -> str:
    """One line of worker ``index``'s output as the supervisor prints it: a JSON
    object (``--log-format json``) stays one object, with ``"worker": index`` first;
    any other line (text logs, facts, a traceback) gets a ``[worker index]`` prefix."""
    if line.startswith("{") and line.endswith("}") and line != "{}":
        return line[:1] + f'"worker":{index},' + line[1:]
    return f"[worker {index}] {line}"


class Worker:
    def __init__(self, index: int, argv: list[str]) -> None:
        self.index = index
        self.argv = argv
        self.process: asyncio.subprocess.Process | None = None
        self.ready = asyncio.Event()
        self.started = 0.0

    async def start(self) -> None:
        self.started = time.monotonic()
        self.ready.clear()
        # Both streams through us: the facts on stdout and the log records (and any
        # traceback) on stderr each get the worker's tag, on our stdout and stderr.
        self.process = await asyncio.create_subprocess_exec(*self.argv, stdout=asyncio.subprocess.PIPE,
                                                            stderr=asyncio.subprocess.PIPE, limit=LINE_LIMIT)
        assert self.process.stdout is not None and self.process.stderr is not None
        asyncio.ensure_future(self._forward(self.process.stdout, sys.stdout))
        asyncio.ensure_future(self._forward(self.process.stderr, sys.stderr))

    async def _forward(self, stream: asyncio.StreamReader, out: TextIO) -> None:
        """Relay one of the worker's streams, tagged; note when it listens."""
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # over LINE_LIMIT: asyncio dropped it; relaying must go on
                raw = b"(a line over %d bytes was dropped)" % LINE_LIMIT
            if not raw:
                return
            line = raw.decode(errors="replace").rstrip()
            if out is sys.stdout and "HTTP on" in line:
                self.ready.set()
            print(tag_line(line, self.index), file=out, flush=True)


async def run_workers(args: argparse.Namespace, argv: list[str]) -> int:
    from broker.core import Broker
    from broker.server import RespServer
    from gateway.app import start_embedded
    from gateway.cli import broker_config, configure_persistence, on_shutdown_command, stop_on_signals
    from gateway.logs import fact

    stop = stop_on_signals()
    unix_path = resp_server = None
    saved: list[bool] = []
    # The workers' sockets (the broker's, and each worker's own HTTP one) are in a
    # directory only this user can enter (mkdtemp: 0700), so they need no password;
    # --requirepass guards the RESP port.
    directory = tempfile.mkdtemp(prefix="fanout-")
    if args.broker.startswith("memory"):
        unix_path = broker_socket(directory)
        broker = Broker(config=broker_config(args))
        broker.evictor.set_exempt(is_gateway_key)
        problem = configure_persistence(broker, args)
        if problem:
            print(f"fanout: {problem}", file=sys.stderr)
            return 2
        saved = on_shutdown_command(broker, stop)
        resp_server = RespServer(broker, args.host, args.resp_port, unix_path=unix_path, unix_trusted=True)
        failed = await start_embedded(resp_server, args.host, args.resp_port)
        if failed is not None:
            return failed
    http_port = args.http_port or _free_port(args.host)
    workers = [Worker(index, worker_argv(argv, unix_path, http_port, index, args.workers, directory))
               for index in range(1, args.workers + 1)]
    for worker in workers:
        await worker.start()
    ready = asyncio.ensure_future(asyncio.gather(*(worker.ready.wait() for worker in workers)))
    exited = [asyncio.ensure_future(worker.process.wait()) for worker in workers]  # type: ignore[union-attr]
    done, _ = await asyncio.wait([ready, *exited], return_when=asyncio.FIRST_COMPLETED)
    if ready not in done:
        print("fanout: a worker exited before listening (see its output above)", file=sys.stderr)
        await _stop_workers(workers, args.shutdown_timeout)
        if resp_server is not None:
            await resp_server.close()
        return 1
    fact(f"fanout serve: HTTP on http://{args.host}:{http_port} ({args.workers} workers)",
         http=f"{args.host}:{http_port}", workers=args.workers)
    if resp_server is not None and args.resp_port >= 0:
        fact(f"fanout serve: RESP on {args.host}:{resp_server.port}", resp=f"{args.host}:{resp_server.port}")
    supervisor = asyncio.ensure_future(_supervise(workers))
    await stop.wait()
    fact("fanout serve: shutting down")
    supervisor.cancel()
    await _stop_workers(workers, args.shutdown_timeout)
    if resp_server is not None:
        if not saved:
            resp_server.broker.persistence.save_on_shutdown()
        await resp_server.close()
    for leftover in glob.glob(os.path.join(directory, "worker-*.sock")):  # of workers that were killed
        os.unlink(leftover)
    if not os.listdir(directory):
        os.rmdir(directory)
    fact("fanout serve: stopped")
    return 0


async def _supervise(workers: list[Worker]) -> None:
    """Restart workers that die."""
    from gateway.logs import fact
    while True:
        waits = {asyncio.ensure_future(worker.process.wait()): worker  # type: ignore[union-attr]
                 for worker in workers}
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for task in done:
            worker = waits[task]
            fact(f"fanout serve: worker {worker.index} exited with {task.result()}; restarting it",
                 worker=worker.index, exit=task.result())
            if time.monotonic() - worker.started < RESTART_PAUSE:
                await asyncio.sleep(RESTART_PAUSE)
            await worker.start()


async def _stop_workers(workers: list[Worker], timeout: float) -> None:
    running = [worker.process for worker in workers if worker.process and worker.process.returncode is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    if running:
        await asyncio.wait([asyncio.ensure_future(p.wait()) for p in running], timeout=timeout + 5)
        for process in running:
            if process.returncode is None:
                process.kill()
                await process.wait()
