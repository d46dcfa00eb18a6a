"""The append-only file, as Redis 7 keeps it (``aof.c``): the I/O shell.

Every unit the propagator hands on (``broker.propagate``) is encoded into an
in-memory buffer (with SELECT where the db changes). Once per event-loop iteration
(``before_sleep``, Redis's ``beforeSleep`` -> ``flushAppendOnlyFile``) the buffer is
written to the current incremental file with one ``write``; then, by
``appendfsync``:

- ``always``: ``fdatasync`` at once, and only then are the replies of that iteration
  released: the RESP server holds every reply while ``holding`` is true, and the
  gateway's in-process backend awaits ``wait_synced`` (group commit: one fsync for
  all the writes of an iteration, however many clients sent them);
- ``everysec``: ``fdatasync`` in a background thread, at most once a second;
- ``no``: the kernel decides.

Layout (``appenddirname`` inside ``dir``): a manifest (``broker.persistence.manifest``)
names a base file (a snapshot: RDB with ``aof-use-rdb-preamble yes`` when the RDB
writer is available, else commands) and incremental files. ``BGREWRITEAOF`` (or the
automatic rewrite past ``auto-aof-rewrite-percentage``) opens a new incremental file
at once and forks a child that writes the new base from its copy-on-write image of
the dataset; when it exits, the base is renamed into place, the manifest lists the
new base and the new incr only, and the old files are deleted. No rewrite buffer is
needed: what happened after the fork is in the new incr file.

Faults: a write that fails (disk full, read-only directory) leaves the data in the
buffer, sets ``aof_last_write_status:err``, logs once, and makes the broker refuse
write commands with ``-MISCONF Errors writing to the AOF file: <reason>`` until a
retry (each iteration, and each 100 ms from the cron) succeeds. With ``always`` the
replies stay held meanwhile (Redis exits instead), so an acknowledged write is on disk.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator

from broker.persistence.aof_format import AofCorrupt, AofTruncated, read_commands, write_base
from broker.persistence.manifest import HISTORY, Manifest, ManifestError
from broker.propagate import _THREE, Op, encode_command
from broker.resp import CommandError, parse_whole

if TYPE_CHECKING:
    from broker.core import Broker

__all__ = ["AofLoadError", "AppendOnlyFile", "load_files"]

log = logging.getLogger("fanout.broker")

OFF, ON, WAIT_REWRITE = "off", "on", "wait_rewrite"
_FSYNC = getattr(os, "fdatasync", os.fsync)
# Redis logs a repeated AOF write error at most once in this many seconds.
_WRITE_ERROR_LOG_SECONDS = 30


class AofLoadError(Exception):
    """The AOF cannot be loaded; the message says which file, where and why."""


def _rdb_writer() -> Callable[..., Any] | None:
    """The RDB writer (broker.persistence.rdb.dump_rdb) where it exists."""
    try:
        from broker.persistence import rdb  # type: ignore[attr-defined]
    except ImportError:
        return None
    return getattr(rdb, "dump_rdb", None)


def _rdb_loader() -> Callable[..., Any] | None:
    try:
        from broker.persistence import rdb  # type: ignore[attr-defined]
    except ImportError:
        return None
    return getattr(rdb, "load_rdb", None)


def _replay_client(broker: "Broker") -> Any:
    from broker.client import Client

    class ReplayClient(Client):
        def deliver(self, message: Any) -> None:
            pass

        def resume(self, reply: Any) -> None:
            pass

    client = ReplayClient(broker, addr="aof:0", laddr="aof:0")
    client.authenticated = True
    client.refresh_special()
    return client


@dataclass(slots=True)
class _Step:
    """One file of a load, checked: an RDB base, or its commands (and where to cut)."""

    name: str
    path: str
    rdb: bytes | None = None
    commands: list[list[bytes]] = field(default_factory=list)
    truncate_at: int | None = None


def prepare_load(broker: "Broker", directory: str, manifest: Manifest, truncated_ok: bool) -> list[_Step]:
    """Read and check every file of ``manifest`` before anything is replayed.

    Raises:
        AofLoadError: a file is missing or unreadable, holds bytes that are not commands
            (named with the offset), an unknown command, or is cut short where that is
            not allowed (not the last file, or ``aof-load-truncated no``).
    """
    files = manifest.files()
    steps = []
    for index, entry in enumerate(files):
        path = os.path.join(directory, entry.name)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            raise AofLoadError(f"The append log file {entry.name} doesn't exist") from None
        except OSError as exc:
            raise AofLoadError(f"Fatal error: can't open the append log file {entry.name} "
                               f"for reading: {exc.strerror}") from None
        if data.startswith(b"REDIS"):
            if _rdb_loader() is None:
                raise AofLoadError(f"The base file {entry.name} is an RDB file and this build cannot read RDB")
            steps.append(_Step(entry.name, path, rdb=data))
            continue
        steps.append(_check_commands(broker, data, entry.name, path, index == len(files) - 1, truncated_ok))
    return steps


def _check_commands(broker: "Broker", data: bytes, name: str, path: str, last: bool, truncated_ok: bool) -> _Step:
    step = _Step(name, path)
    # The common file (whole commands, no annotations, no transaction left open at
    # its end) in one pass of hiredis, in C; anything else through the exact reader,
    # which knows the offsets that errors and truncation need.
    whole = parse_whole(data) if data[:1] == b"*" else None
    if whole is not None and not _ends_in_open_multi(whole):
        step.commands = whole
        _check_known(broker, whole, name)
        return step
    commands = step.commands
    valid_up_to = before_multi = 0
    in_multi = False
    truncated_at: int | None = None
    try:
        for argv, end in read_commands(data):
            head = argv[0].lower()
            if head == b"multi":
                before_multi = valid_up_to
                in_multi = True
            elif head == b"exec":
                in_multi = False
            commands.append(argv)
            valid_up_to = end
    except AofCorrupt as exc:
        raise AofLoadError(f"Bad file format reading the append only file {name} at offset {exc.offset}: "
                           "make a backup of your AOF file, then use ./redis-check-aof --fix "
                           "<filename.manifest>") from None
    except AofTruncated:
        truncated_at = valid_up_to
    if in_multi:
        # a transaction cut by the end of the file: left out, as a short read
        log.warning("Revert incomplete MULTI/EXEC transaction in AOF file %s", name)
        truncated_at = before_multi
        while commands and commands[-1][0].lower() != b"multi":
            commands.pop()
        if commands:
            commands.pop()
    if truncated_at is not None and not (last and truncated_ok):
        raise AofLoadError(
            f"Unexpected end of file reading the append only file {name} at offset {truncated_at}. You can: "
            "1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. "
            "2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and "
            "restart the server.")
    _check_known(broker, commands, name)
    step.truncate_at = truncated_at
    return step


def _ends_in_open_multi(commands: list[list[bytes]]) -> bool:
    """Whether the last MULTI of ``commands`` has no EXEC after it."""
    for argv in reversed(commands):
        head = argv[0].lower()
        if head == b"exec":
            return False
        if head == b"multi":
            return True
    return False


def _check_known(broker: "Broker", commands: list[list[bytes]], name: str) -> None:
    table = broker.commands
    for argv in commands:
        if argv[0].lower() not in table:
            raise AofLoadError(f"Unknown command '{argv[0].decode('utf-8', 'replace')}' reading the append "
                               f"only file {name}")


_UNSEEN = object()
_CONTAINER = object()


def replay(broker: "Broker", steps: list[_Step], chunk: int = 10_000) -> Iterator[int]:
    """Apply checked ``steps`` to ``broker``; yields the count so far every ``chunk``
    commands (the async shell answers clients in between) and finally the total.

    Commands run straight through their handlers, as Redis's AOF client does (no
    replies, no gate, MULTI/EXEC need nothing: the load is one uninterrupted
    sequence and unfinished transactions were left out when checking).
    """
    from broker.resp import CommandError

    client = _replay_client(broker)
    propagating, broker.propagating = broker.propagating, False
    table = broker.commands
    # spelling -> handler (None: MULTI/EXEC, nothing to run; _CONTAINER: by subcommand)
    handlers: dict[bytes, Any] = {}
    count = 0
    try:
        for step in steps:
            if step.rdb is not None:
                loader = _rdb_loader()
                assert loader is not None
                try:
                    loader(broker, step.rdb)
                except Exception as exc:  # the RDB loader names what it refused
                    raise AofLoadError(f"Error reading the RDB base file {step.name}, AOF loading aborted: "
                                       f"{exc}") from None
                continue
            broker.now_ms = broker.clock_ms()
            for argv in step.commands:
                head = argv[0]
                handler = handlers.get(head, _UNSEEN)
                if handler is _UNSEEN:
                    cmd = table[head.lower()]
                    handler = handlers[head] = (None if cmd.name in ("multi", "exec") else
                                                cmd.handler if cmd.handler is not None else _CONTAINER)
                if handler is not None:
                    try:
                        if handler is _CONTAINER:
                            cmd = broker._subcommand(table[head.lower()], argv)
                            cmd.handler(client, argv)  # type: ignore[misc]
                        else:
                            handler(client, argv)
                    except CommandError:
                        pass  # as in Redis, a command's error during a load is not fatal
                count += 1
                if count % chunk == 0:
                    yield count
                    broker.now_ms = broker.clock_ms()
            if step.truncate_at is not None:
                log.warning("!!! Warning: short read while loading the AOF file %s!!!", step.name)
                log.warning("!!! Truncating the AOF %s at offset %d !!!", step.name, step.truncate_at)
                try:
                    os.truncate(step.path, step.truncate_at)
                except OSError as exc:
                    raise AofLoadError(f"Error truncating the AOF file {step.name}: {exc.strerror}") from None
                log.warning("AOF %s loaded anyway because aof-load-truncated is enabled", step.name)
    finally:
        broker.propagating = propagating
        broker.ready_keys.clear()
    yield count


def load_files(broker: "Broker", directory: str, manifest: Manifest, truncated_ok: bool) -> int:
    """Check, then replay, the base and incr files of ``manifest`` into ``broker``.

    Returns:
        How many commands were replayed.

    Raises:
        AofLoadError: naming the file and the offset; nothing was loaded or changed.
    """
    count = 0
    for count in replay(broker, prepare_load(broker, directory, manifest, truncated_ok)):
        pass
    return count


class AppendOnlyFile:
    """The AOF of one broker: buffer, files, fsync, rewrites and their statistics."""

    def __init__(self, broker: "Broker", loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.broker = broker
        self.loop = loop
        config = broker.config
        self.dir = config.get("dir")
        self.dirname = os.path.join(self.dir, config.get("appenddirname"))
        self.filename = config.get("appendfilename")
        self.state = OFF
        self.fsync_policy = config.get("appendfsync")
        self.always = self.fsync_policy == "always"
        self.timestamps_on = config.get("aof-timestamp-enabled") == "yes"
        self.manifest = Manifest(self.filename)
        self.fd = -1
        # encoded commands not yet written, and their size
        self.buf: list[bytes] = []
        # units fed this iteration, not yet encoded into buf
        self.units: list[list[Op]] = []
        self.buf_size = 0
        self.selected_db = -1
        self.flush_scheduled = False
        # True while replies must wait for the fsync of what is buffered (always)
        self.holding = False
        self._waiters: list[asyncio.Future[None]] = []
        self._on_synced: list[Callable[[], None]] = []
        # sizes: all files, the incr being written, the base after the last rewrite
        self.current_size = 0
        self.incr_size = 0
        self.fsynced_incr_size = 0
        self.base_size = 0
        self.rewrite_base_size = 0
        self.last_fsync = time.time()
        self._fsync_pool: ThreadPoolExecutor | None = None
        self._fsync_future: Any = None
        self.pending_bio_fsync = 0
        self.delayed_fsync = 0
        # write errors
        self.last_write_ok = True
        self.last_write_error = ""
        self._last_error_log = 0.0
        self.last_ts = 0
        # rewrite child
        self.child_pid = 0
        self.child_temp = ""
        self.child_rdb = False
        self.rewrite_start = 0.0
        self.rewrite_scheduled = False
        self.last_rewrite_seconds = -1
        self.last_bgrewrite_ok = True
        self.rewrites = 0
        self.rewrite_failures = 0
        self.temp_incr = ""
        broker.aof = self
        config.listeners.append(self._config_changed)

    # ----------------------------------------------------------- start-up

    def start(self) -> int:
        """At server start: load the AOF if ``appendonly yes``, open it for appending.

        Returns:
            The number of commands replayed.

        Raises:
            AofLoadError: the files cannot be loaded (nothing on disk was changed).
        """
        if self.broker.config.get("appendonly") != "yes":
            return 0
        steps = self._prepare()
        started = time.monotonic()
        replayed = 0
        for replayed in replay(self.broker, steps):
            pass
        self._loaded(steps, replayed, started)
        self._open_on_start()
        return replayed

    async def start_async(self) -> int:
        """``start`` for a server that already listens: clients get ``-LOADING`` and the
        log shows progress while the commands replay in slices between loop iterations."""
        if self.broker.config.get("appendonly") != "yes":
            return 0
        snapshots = getattr(self.broker, "persistence", None)
        started = last_log = time.monotonic()
        replayed = 0
        if snapshots is not None:
            snapshots.set_loading(True)  # from the first read of the files on
        try:
            steps = await asyncio.to_thread(self._prepare)
            total = sum(len(step.commands) for step in steps)
            for replayed in replay(self.broker, steps):
                now = time.monotonic()
                if now - last_log >= 1.0:
                    last_log = now
                    log.info("Loading AOF: %d of %d commands", replayed, total)
                await asyncio.sleep(0)  # answer clients (-LOADING) between slices
        finally:
            if snapshots is not None:
                snapshots.set_loading(False)
        self._loaded(steps, replayed, started)
        self._open_on_start()
        return replayed

    def _prepare(self) -> list[Any]:
        manifest_path = os.path.join(self.dirname, self.filename + ".manifest")
        if not os.path.exists(manifest_path):
            return []
        try:
            with open(manifest_path, encoding="utf-8") as handle:
                self.manifest = Manifest.parse(handle.read(), self.filename)
        except ManifestError as exc:
            raise AofLoadError(f"Fatal AOF manifest file error in {manifest_path}: {exc}") from None
        return prepare_load(self.broker, self.dirname, self.manifest,
                            self.broker.config.get("aof-load-truncated") == "yes")

    def _loaded(self, steps: list[Any], replayed: int, started: float) -> None:
        if steps:
            log.info("DB loaded from append only file: %.3f seconds (%d commands)",
                     time.monotonic() - started, replayed)
        self.broker.dirty = 0  # what was loaded is saved already

    def _open_on_start(self) -> None:
        """``aofOpenIfNeededOnServerStart``: a base for an empty start, the last incr open."""
        try:
            os.makedirs(self.dirname, exist_ok=True)
        except OSError as exc:
            raise AofLoadError(f"Can't open or create append-only dir {self.dirname}: {exc.strerror}") from None
        try:
            if self.manifest.base is None and not self.manifest.incrs:
                name = self.manifest.new_base(self._use_rdb())
                self._write_base_file(os.path.join(self.dirname, name), self._use_rdb())
                log.info("Creating AOF base file %s on server start", name)
            name = self.manifest.last_incr()
            self.fd = os.open(os.path.join(self.dirname, name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._persist_manifest(self.manifest)
        except OSError as exc:
            raise AofLoadError(f"Can't open the append-only file {self.manifest.last_incr()}: "
                               f"{exc.strerror}") from None
        self.incr_size = self.fsynced_incr_size = os.fstat(self.fd).st_size
        self.base_size = self._file_size(self.manifest.base.name) if self.manifest.base else 0
        self.current_size = self.base_size + sum(self._file_size(i.name) for i in self.manifest.incrs)
        self.rewrite_base_size = self.current_size
        self._delete_history()
        self._set_on()

    def _set_on(self) -> None:
        self.state = ON
        self._attach()

    def _attach(self) -> None:
        broker = self.broker
        if self.feed not in broker.propagator.sinks:
            broker.propagator.sinks.append(self.feed)
        broker.propagating = True
        self.selected_db = -1

    def _detach(self) -> None:
        broker = self.broker
        if self.feed in broker.propagator.sinks:
            broker.propagator.sinks.remove(self.feed)
        broker.propagating = bool(broker.propagator.sinks)

    # --------------------------------------------------------------- feed

    def feed(self, ops: list[Op]) -> None:
        """A unit of records from the propagator (``feedAppendOnlyFile``).

        Kept as it is until the end of the loop iteration, and encoded then in one pass
        (``_encode``): on the write path this is all the AOF costs a command.
        """
        if self.timestamps_on:
            now = int(time.time())
            if now != self.last_ts:
                self.last_ts = now
                self._encode()
                self.buf.append(b"#TS:%d\r\n" % now)
        self.units.append(ops)
        if self.always:
            self.holding = True
        if not self.flush_scheduled and self.loop is not None:
            self.flush_scheduled = True
            self.loop.call_soon(self.before_sleep)

    def _encode(self) -> None:
        """The fed units as RESP, with SELECT where the db changes, into ``buf``."""
        units = self.units
        if not units:
            return
        self.units = []
        out = self.buf
        append = out.append
        selected = self.selected_db
        size = 0
        for unit in units:
            for db, argv in unit:
                if db != selected:
                    chunk = b"*2\r\n$6\r\nSELECT\r\n$%d\r\n%d\r\n" % (len(str(db)), db)
                    append(chunk)
                    size += len(chunk)
                    selected = db
                if argv.__class__ is bytes:  # requests as the client sent them
                    chunk = argv
                elif len(argv) == 3:
                    a, b, c = argv
                    chunk = _THREE % (len(a), a, len(b), b, len(c), c)
                else:
                    chunk = encode_command(argv)
                append(chunk)
                size += len(chunk)
        self.selected_db = selected
        self.buf_size += size

    @property
    def timestamps(self) -> bool:
        return self.broker.config.get("aof-timestamp-enabled") == "yes"

    # -------------------------------------------------------------- flush

    def before_sleep(self) -> None:
        """Once per loop iteration: write the buffer, fsync by policy, release replies."""
        self.flush_scheduled = False
        self.flush()

    def flush(self, force: bool = False) -> bool:
        """``flushAppendOnlyFile``: True when the buffer is written (and synced if always)."""
        self.broker.propagator.drain()  # records of a running pipeline (BGREWRITEAOF in it)
        if self.fd < 0:
            return False
        self._encode()
        if self.buf:
            data = b"".join(self.buf) if len(self.buf) > 1 else self.buf[0]
            if not self._write(data):
                return False
            self.buf.clear()
            self.buf_size = 0
        if self.fsync_policy == "always":
            if self.fsynced_incr_size != self.incr_size:
                try:
                    _FSYNC(self.fd)
                except OSError as exc:
                    self._write_failed(exc.errno or errno.EIO, f"Can't persist AOF for fsync error: {exc.strerror}")
                    return False
                self.fsynced_incr_size = self.incr_size
                self.last_fsync = time.time()
            self._release()
        else:
            if self.fsync_policy == "everysec":
                now = time.time()
                if self.fsynced_incr_size != self.incr_size and int(now) > int(self.last_fsync):
                    self._background_fsync()
                    self.last_fsync = now
            if self.holding:  # appendfsync changed from always with replies held
                self._release()
        return True

    def _write(self, data: bytes) -> bool:
        try:
            written = os.write(self.fd, data)
        except OSError as exc:
            self._write_failed(exc.errno or errno.EIO, f"Error writing to the AOF file: {exc.strerror}")
            return False
        if written != len(data):
            # A short write: cut it off again so the file ends with a whole command.
            try:
                os.ftruncate(self.fd, self.incr_size)
            except OSError:
                pass
            self._write_failed(errno.ENOSPC, f"Short write while writing to the AOF file: "
                                             f"(nwritten={written}, expected={len(data)})")
            return False
        self.incr_size += written
        self.current_size += written
        if not self.last_write_ok:
            log.warning("AOF write error looks solved, Redis can write again.")
            self.last_write_ok = True
            self.last_write_error = ""
            self.broker.set_aof_error(None)
        return True

    def _write_failed(self, code: int, message: str) -> None:
        now = time.time()
        if now - self._last_error_log > _WRITE_ERROR_LOG_SECONDS or self.last_write_ok:
            self._last_error_log = now
            log.warning("%s", message)
        self.last_write_ok = False
        self.last_write_error = os.strerror(code)
        self.broker.set_aof_error(f"MISCONF Errors writing to the AOF file: {self.last_write_error}")

    def _release(self) -> None:
        self.holding = False
        callbacks, self._on_synced = self._on_synced, []
        for callback in callbacks:
            callback()
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def hold(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` (a held reply's flush) once the buffer is on disk."""
        self._on_synced.append(callback)

    async def wait_synced(self) -> None:
        """Return once what is buffered now is on disk (appendfsync always)."""
        if not self.holding:
            return
        assert self.loop is not None
        waiter: asyncio.Future[None] = self.loop.create_future()
        self._waiters.append(waiter)
        await waiter

    def _background_fsync(self) -> None:
        if self._fsync_pool is None:
            self._fsync_pool = ThreadPoolExecutor(1, thread_name_prefix="aof-fsync")
        if self._fsync_future is not None and not self._fsync_future.done():
            self.delayed_fsync += 1
            return
        fd = self.fd
        size = self.incr_size
        self.pending_bio_fsync = 1

        def done(future: Any) -> None:
            self.pending_bio_fsync = 0
            if future.exception() is None and fd == self.fd:
                self.fsynced_incr_size = max(self.fsynced_incr_size, size)

        self._fsync_future = self._fsync_pool.submit(_FSYNC, fd)
        self._fsync_future.add_done_callback(done)

    # ---------------------------------------------------------------- cron

    def cron(self) -> None:
        """Every ~100 ms: retry a failed write, reap the rewrite child, fsync
        everysec data left in page cache, start an automatic rewrite."""
        if self.state == OFF:
            self._reap_child()
            return
        if self.buf or self.units or not self.last_write_ok:
            self.flush()
        elif self.fsync_policy == "everysec" and self.fsynced_incr_size != self.incr_size:
            if int(time.time()) > int(self.last_fsync):
                self._background_fsync()
                self.last_fsync = time.time()
        self._reap_child()
        if self.child_pid or self.broker.persistence.has_child():
            return  # one child at a time, as Redis
        if self.rewrite_scheduled:
            self.rewrite_background()
        elif self.state == ON and self._auto_rewrite_due():
            log.info("Starting automatic rewriting of AOF on %d%% growth", self._growth())
            self.rewrite_background()

    def _growth(self) -> int:
        base = self.rewrite_base_size or 1
        return self.current_size * 100 // base - 100

    def _auto_rewrite_due(self) -> bool:
        config = self.broker.config
        percentage = int(config.get("auto-aof-rewrite-percentage"))
        if not percentage or self.rewrite_failures >= 3 and time.time() - self.rewrite_start < 60:
            return False
        return self.current_size > int(config.get("auto-aof-rewrite-min-size")) and self._growth() >= percentage

    # ------------------------------------------------------------- rewrite

    def rewrite_background(self) -> str:
        """BGREWRITEAOF: open a new incr file and fork a child to write the new base.

        Returns:
            "started" (or raises OSError when the new incr file cannot be made).
        """
        self.rewrite_scheduled = False
        self.flush(force=True)
        os.makedirs(self.dirname, exist_ok=True)
        use_rdb = self._use_rdb()
        if self.state == ON:
            manifest = self.manifest.copy()
            name = manifest.new_incr()
            fd = os.open(os.path.join(self.dirname, name), os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o644)
            try:
                self._persist_manifest(manifest)
            except OSError:
                os.close(fd)
                raise
            log.info("Creating AOF incr file %s on background rewrite", name)
            self._switch_fd(fd)
            self.manifest = manifest
        elif self.state == WAIT_REWRITE:
            os.makedirs(self.dirname, exist_ok=True)
            self.temp_incr = f"temp-{self.filename}.incr"
            fd = os.open(os.path.join(self.dirname, self.temp_incr), os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o644)
            self._switch_fd(fd)
        self.rewrite_start = time.time()
        pid = os.fork()
        if pid == 0:  # the child: write the base from this copy of the dataset, exit
            code = 1
            try:
                gc.disable()
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                path = os.path.join(self.dirname, f"temp-rewriteaof-bg-{os.getpid()}.aof")
                self._write_base_file(path, use_rdb)
                code = 0
            finally:
                os._exit(code)
        self.child_pid = pid
        self.child_rdb = use_rdb
        self.child_temp = os.path.join(self.dirname, f"temp-rewriteaof-bg-{pid}.aof")
        log.info("Background append only file rewriting started by pid %d", pid)
        return "started"

    def _switch_fd(self, fd: int) -> None:
        old = self.fd
        self.fd = fd
        self.incr_size = self.fsynced_incr_size = 0
        self.selected_db = -1
        if old >= 0:
            # in always mode the old file is synced already; else sync it before closing
            if self.fsync_policy == "always":
                os.close(old)
            else:
                try:
                    _FSYNC(old)
                finally:
                    os.close(old)

    def _reap_child(self) -> None:
        if not self.child_pid:
            return
        try:
            pid, status = os.waitpid(self.child_pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = self.child_pid, 1 << 8
        if pid == 0:
            return
        self.child_pid = 0
        ok = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        if ok and self.state != OFF:
            try:
                self._rewrite_done()
            except OSError as exc:
                log.warning("Error trying to finish the AOF rewrite: %s", exc)
                ok = False
        if ok and self.state != OFF:
            self.rewrites += 1
            self.rewrite_failures = 0
            self.last_bgrewrite_ok = True
            log.info("Background AOF rewrite finished successfully")
        else:
            self.rewrite_failures += 1
            self.last_bgrewrite_ok = self.state == OFF and ok
            if not ok:
                log.warning("Background AOF rewrite terminated with error")
            if os.path.exists(self.child_temp):
                os.unlink(self.child_temp)
        self.last_rewrite_seconds = int(time.time() - self.rewrite_start)
        self.rewrite_start = 0.0

    def _rewrite_done(self) -> None:
        manifest = self.manifest.copy()
        base = manifest.new_base(self.child_rdb)
        base_path = os.path.join(self.dirname, base)
        os.rename(self.child_temp, base_path)
        if self.state == WAIT_REWRITE:
            name = manifest.new_incr()
            os.rename(os.path.join(self.dirname, self.temp_incr), os.path.join(self.dirname, name))
        manifest.retire_incrs(keep_last=self.fd >= 0)
        self._persist_manifest(manifest)
        self.manifest = manifest
        self.base_size = self._file_size(base)
        self.current_size = self.base_size + self.incr_size
        self.rewrite_base_size = self.current_size
        if self.state == WAIT_REWRITE:
            self.state = ON
            log.info("AOF rewrite done: appendonly is on")
        self._delete_history()

    def _delete_history(self) -> None:
        for entry in self.manifest.history:
            try:
                os.unlink(os.path.join(self.dirname, entry.name))
                log.info("Removing the history file %s in the background", entry.name)
            except FileNotFoundError:
                pass
        if self.manifest.history:
            self.manifest.history = []
            self._persist_manifest(self.manifest)

    def kill_child(self) -> None:
        if self.child_pid:
            try:
                os.kill(self.child_pid, signal.SIGUSR1)
                os.waitpid(self.child_pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            if os.path.exists(self.child_temp):
                os.unlink(self.child_temp)
            self.child_pid = 0
            self.rewrite_start = 0.0

    # ---------------------------------------------------------- on and off

    def start_runtime(self) -> None:
        """CONFIG SET appendonly yes: record from now on, rewrite a base first (``startAppendOnly``)."""
        self.state = WAIT_REWRITE
        self._attach()
        if self.child_pid:
            self.kill_child()
        if self.broker.persistence.has_child():
            log.warning("AOF was enabled but there is already another background operation. An AOF "
                        "background was scheduled to start when possible.")
            os.makedirs(self.dirname, exist_ok=True)
            self.temp_incr = f"temp-{self.filename}.incr"
            self._switch_fd(os.open(os.path.join(self.dirname, self.temp_incr),
                                    os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o644))
            self.rewrite_scheduled = True
            return
        try:
            self.rewrite_background()
        except OSError as exc:
            log.warning("Redis needs to enable the AOF but can't trigger a background AOF rewrite "
                        "operation: %s", exc)
            self.stop()
            raise
        self.last_write_ok = True
        self.broker.set_aof_error(None)

    def stop(self) -> None:
        """CONFIG SET appendonly no (and shutdown): write, sync and close (``stopAppendOnly``)."""
        if self.state == OFF:
            return
        self.flush(force=True)
        if self.fd >= 0:
            try:
                _FSYNC(self.fd)
            except OSError as exc:
                log.warning("Fail to fsync the AOF file: %s", exc.strerror)
            os.close(self.fd)
        self.fd = -1
        self.state = OFF
        self.rewrite_scheduled = False
        self.incr_size = self.fsynced_incr_size = 0
        self._detach()
        self.kill_child()
        self.buf.clear()
        self.units.clear()
        self.buf_size = 0
        self._release()
        if not self.last_write_ok:
            self.last_write_ok = True
            self.broker.set_aof_error(None)

    def close(self) -> None:
        """Server shutdown: everything buffered is written and synced."""
        self.stop()
        if self._fsync_pool is not None:
            self._fsync_pool.shutdown(wait=True)

    def _config_changed(self, name: str, value: str) -> None:
        if name == "appendonly":
            if value == "yes" and self.state == OFF and self.loop is not None:
                try:
                    self.start_runtime()
                except OSError:
                    self.broker.config.values["appendonly"] = "no"
                    raise CommandError("ERR CONFIG SET failed (possibly related to argument 'appendonly') - "
                                       "Unable to turn on AOF. Check server logs.") from None
            elif value == "no" and self.state != OFF:
                self.stop()
        elif name == "appendfsync":
            self.fsync_policy = value
            self.always = value == "always"
        elif name == "aof-timestamp-enabled":
            self.timestamps_on = value == "yes"
        elif name == "lazyfree-lazy-expire":
            self.broker.propagator.lazy_expire = value == "yes"

    # ------------------------------------------------------------- helpers

    def _use_rdb(self) -> bool:
        return self.broker.config.get("aof-use-rdb-preamble") == "yes" and _rdb_writer() is not None

    def _write_base_file(self, path: str, use_rdb: bool) -> None:
        """Write a base (RDB or commands) to ``path``: temp file, fsync, rename."""
        temp = path + ".tmp" if not os.path.basename(path).startswith("temp-") else path
        with open(temp, "wb") as handle:
            if use_rdb:
                writer = _rdb_writer()
                assert writer is not None
                writer(self.broker, handle, aof_base=True)
            else:
                if self.timestamps:
                    handle.write(b"#TS:%d\r\n" % int(time.time()))
                write_base(self.broker.dbs, handle.write, self.broker.clock_ms())
            handle.flush()
            _FSYNC(handle.fileno())
        if temp != path:
            os.rename(temp, path)

    def _persist_manifest(self, manifest: Manifest) -> None:
        """Write the manifest to a temp file, fsync, rename, fsync the directory."""
        path = os.path.join(self.dirname, self.filename + ".manifest")
        temp = os.path.join(self.dirname, f"temp-{self.filename}.manifest")
        fd = os.open(temp, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o644)
        try:
            data = manifest.format().encode()
            if os.write(fd, data) != len(data):
                raise OSError(errno.ENOSPC, "No space left on device")
            _FSYNC(fd)
        finally:
            os.close(fd)
        os.rename(temp, path)
        dir_fd = os.open(self.dirname, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _file_size(self, name: str) -> int:
        try:
            return os.path.getsize(os.path.join(self.dirname, name))
        except OSError:
            return 0

    # --------------------------------------------------------------- INFO

    def info_fields(self) -> list[tuple[str, object]]:
        """The aof_* fields of INFO persistence, in Redis's order."""
        now = time.time()
        fields: list[tuple[str, object]] = [
            ("aof_enabled", 0 if self.state == OFF else 1),
            ("aof_rewrite_in_progress", 1 if self.child_pid else 0),
            ("aof_rewrite_scheduled", 1 if self.rewrite_scheduled else 0),
            ("aof_last_rewrite_time_sec", self.last_rewrite_seconds),
            ("aof_current_rewrite_time_sec", int(now - self.rewrite_start) if self.child_pid else -1),
            ("aof_last_bgrewrite_status", "ok" if self.last_bgrewrite_ok else "err"),
            ("aof_rewrites", self.rewrites),
            ("aof_rewrites_consecutive_failures", self.rewrite_failures),
            ("aof_last_write_status", "ok" if self.last_write_ok else "err"),
            ("aof_last_cow_size", 0),
            ("module_fork_in_progress", 0),
            ("module_fork_last_cow_size", 0),
        ]
        if self.state != OFF:
            fields += [
                ("aof_current_size", self.current_size),
                ("aof_base_size", self.base_size),
                ("aof_pending_rewrite", 1 if self.rewrite_scheduled else 0),
                ("aof_buffer_length", self.buf_size),
                ("aof_pending_bio_fsync", self.pending_bio_fsync),
                ("aof_delayed_fsync", self.delayed_fsync),
            ]
        return fields
