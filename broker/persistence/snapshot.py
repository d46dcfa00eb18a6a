"""RDB snapshots on disk: SAVE, BGSAVE's forked child, the save schedule, start-up
loading, and the counters ``INFO persistence`` shows (``src/rdb.c``,
``serverCron`` in ``src/server.c``).

A snapshot is written to ``temp-<pid>.rdb`` in ``dir``, fsynced, renamed over
``dbfilename`` and the directory fsynced, so a crash mid-save never replaces a
good file. BGSAVE forks (``os.fork``): the child writes the file from its
copy-on-write view of the dataset and exits with 0 or 1; the server cron reaps it
(``cron``) and updates the status. Only the shells call ``cron``/``load_file``;
the command handlers call ``save``/``bgsave``.

Copy-on-write: after the fork, every page either process writes is copied. Redis
(C) copies only the pages the parent changes while the child runs; in CPython the
child itself touches every object it reads (reference counts live in the object
header), so the child ends up copying most pages of the objects it serializes:
plan for up to the dataset's memory again during a BGSAVE. The child disables the
cyclic GC so collections do not touch the rest.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import time
from typing import Any, Callable

from broker.config import save_points
from broker.persistence.rdb import (
    LoadReport,
    RdbError,
    dump_rdb,
    load_function_libraries,
    parse_rdb,
    scripting_available,
)

__all__ = ["Snapshots", "MISCONF", "LOADING"]

log = logging.getLogger("fanout.broker")

MISCONF = (
    "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. "
    "Commands that may modify the data set are disabled, because this instance is configured to report "
    "errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check "
    "the Redis logs for details about the RDB error.")
LOADING = "LOADING Redis is loading the dataset in memory"
# After a failed BGSAVE the schedule waits this long before trying again (CONFIG_BGSAVE_RETRY_DELAY).
RETRY_DELAY_S = 5


class Snapshots:
    """The RDB persistence state of one broker.

    Attributes:
        lastsave: unix time (s) of the last successful save (start-up time at first).
        last_bgsave_ok: False after a failed BGSAVE, until one succeeds.
        child_pid: the BGSAVE child, or None.
    """

    def __init__(self, broker: Any, clock: Callable[[], float] = time.time) -> None:
        self.broker = broker
        self.clock = clock
        self.lastsave = int(clock())
        self.last_bgsave_ok = True
        self.last_bgsave_try = 0.0
        self.last_bgsave_time_sec = -1
        self.child_pid: int | None = None
        self.child_start = 0.0
        self.dirty_at_fork = 0
        self.scheduled = False
        self.saves = 0
        self.loading = False
        self.loading_start = 0.0
        self.last_load_keys_loaded = 0
        self.last_load_keys_expired = 0
        broker.config.listeners.append(self._config_changed)
        self._refresh_gate()

    # ----------------------------------------------------------------- paths

    @property
    def path(self) -> str:
        config = self.broker.config
        return os.path.join(config.get("dir"), config.get("dbfilename"))

    def _temp_path(self, pid: int) -> str:
        return os.path.join(self.broker.config.get("dir"), f"temp-{pid}.rdb")

    # ----------------------------------------------------------------- saving

    def write_file(self, temp: str) -> None:
        """Write the dataset to ``temp``, fsync it, rename it over the RDB file and
        fsync the directory. On any error the temp file is removed and the error raised."""
        try:
            with open(temp, "wb") as out:
                dump_rdb(self.broker, out, used_mem=_rss())
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, self.path)
        except BaseException:
            try:
                os.unlink(temp)
            except OSError:
                pass
            raise
        try:
            fd = os.open(os.path.dirname(self.path) or ".", os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            pass  # some filesystems refuse fsync on a directory; the rename is done

    def save(self) -> bool:
        """SAVE: write the snapshot in this process (blocking). True on success."""
        self.saves += 1
        temp = self._temp_path(os.getpid())
        try:
            self.write_file(temp)
        except OSError as exc:
            log.warning("Write error saving DB on disk: %s", exc.strerror or exc)
            return False
        except (TypeError, ValueError) as exc:
            log.warning("Error saving DB on disk: %s", exc)
            return False
        log.info("DB saved on disk")
        self.broker.dirty = 0
        self.lastsave = int(self.clock())
        self.last_bgsave_ok = True
        self._refresh_gate()
        return True

    def bgsave(self) -> bool:
        """BGSAVE: fork a child that writes the snapshot. True if the child started."""
        self.last_bgsave_try = self.clock()
        self.saves += 1
        self.dirty_at_fork = self.broker.dirty
        try:
            pid = os.fork()
        except OSError as exc:
            self.last_bgsave_ok = False
            log.warning("Can't save in background: fork: %s", exc.strerror)
            self._refresh_gate()
            return False
        if pid == 0:  # the child: write, then leave without running the parent's cleanup
            code = 1
            try:
                gc.disable()
                _reset_signals()
                self.write_file(self._temp_path(os.getpid()))
                log.info("DB saved on disk")
                code = 0
            except OSError as exc:
                log.warning("Write error saving DB on disk: %s", exc.strerror or exc)
            except BaseException as exc:  # noqa: BLE001 - the child must always exit
                log.warning("Error saving DB on disk: %s", exc)
            finally:
                os._exit(code)
        self.child_pid = pid
        self.child_start = self.clock()
        log.info("Background saving started by pid %d", pid)
        return True

    def has_child(self) -> bool:
        return self.child_pid is not None

    def reap(self, block: bool = False) -> None:
        """Collect the BGSAVE child if it exited (``checkChildrenDone``)."""
        pid = self.child_pid
        if pid is None:
            return
        try:
            done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            done, status = pid, 1 << 8
        if done == 0:
            return
        self.child_pid = None
        self.last_bgsave_time_sec = int(self.clock() - self.child_start)
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            log.info("Background saving terminated with success")
            self.broker.dirty -= min(self.dirty_at_fork, self.broker.dirty)
            self.lastsave = int(self.clock())
            self.last_bgsave_ok = True
        else:
            if os.WIFSIGNALED(status):
                log.warning("Background saving terminated by signal %d", os.WTERMSIG(status))
            else:
                log.warning("Background saving error")
            self.last_bgsave_ok = False
            try:
                os.unlink(self._temp_path(pid))
            except OSError:
                pass
        self._refresh_gate()

    def kill_child(self) -> None:
        """Stop a running BGSAVE (SHUTDOWN, FLUSHALL): its temp file is removed."""
        pid = self.child_pid
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGUSR1)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        self.child_pid = None
        try:
            os.unlink(self._temp_path(pid))
        except OSError:
            pass

    def cron(self) -> None:
        """Once per server cron tick: reap the child, start scheduled or due saves."""
        if self.child_pid is not None:
            self.reap()
            if self.child_pid is not None:
                return
        if self.loading:
            return
        if self.scheduled:
            self.scheduled = False
            self.bgsave()
            return
        dirty = self.broker.dirty
        if not dirty:
            return
        now = self.clock()
        for seconds, changes in save_points(self.broker.config.get("save")):
            if dirty >= changes and now - self.lastsave > seconds and (
                    self.last_bgsave_ok or now - self.last_bgsave_try > RETRY_DELAY_S):
                log.info("%d changes in %d seconds. Saving...", changes, seconds)
                self.bgsave()
                return

    def after_flushall(self) -> None:
        """FLUSHALL: stop a running BGSAVE and, with a schedule set, save the empty
        dataset at once (``flushAllDataAndResetRDB``), so a restart cannot bring
        back what was flushed."""
        self.kill_child()
        if save_points(self.broker.config.get("save")):
            self.save()

    def save_on_shutdown(self, force_save: bool = False, nosave: bool = False) -> bool:
        """SHUTDOWN and SIGTERM: save when a schedule is set (or SAVE given).

        Returns:
            False if a save was due and failed.
        """
        self.kill_child()
        if nosave or not (force_save or save_points(self.broker.config.get("save"))):
            return True
        log.info("Saving the final RDB snapshot before exiting.")
        return self.save()

    # ---------------------------------------------------------------- loading

    def read_file(self) -> bytes | None:
        """The RDB file's bytes, or None when there is none (a fresh start)."""
        try:
            with open(self.path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def parse(self, data: bytes, progress: Callable[[int, int], None] | None = None
              ) -> tuple[list[dict[bytes, Any]], list[dict[bytes, int]], LoadReport]:
        """Parse (any thread): see ``rdb.parse_rdb``. Raises RdbError.

        Function libraries are collected (``report.functions``) and loaded by
        ``install``, on the event loop's thread, where the Lua interpreter lives.
        """
        codes: list[bytes] = []
        dbs, expires, report = parse_rdb(
            data, now_ms=self.broker.clock_ms(), num_dbs=len(self.broker.dbs), progress=progress,
            functions=codes.append if scripting_available() else None)
        report.functions = codes
        return dbs, expires, report

    def install(self, dbs: list[dict[bytes, Any]], expires: list[dict[bytes, int]], report: LoadReport) -> None:
        """Swap a parsed dataset into the broker (the event loop's thread).

        Raises:
            RdbError: a function library of the file does not load (no key changed).
        """
        load_function_libraries(self.broker, report.functions)
        for keyspace, data, deadlines in zip(self.broker.dbs, dbs, expires):
            keyspace.flush()
            keyspace.data.update(data)
            keyspace.loaded()
            for key, deadline in deadlines.items():
                keyspace.set_expire(key, deadline)
        self.last_load_keys_loaded = report.keys
        self.last_load_keys_expired = report.expired_skipped

    def set_loading(self, loading: bool) -> None:
        self.loading = loading
        if loading:
            self.loading_start = self.clock()
        self._refresh_gate()

    def load_file(self) -> LoadReport | None:
        """Load the RDB file now (blocking); None if there is none. Raises RdbError."""
        data = self.read_file()
        if data is None:
            return None
        dbs, expires, report = self.parse(data)
        self.install(dbs, expires, report)
        return report

    # ------------------------------------------------------------------ INFO

    def info(self) -> list[tuple[str, object]]:
        """The RDB fields of ``INFO persistence`` in redis-server 7.0's order."""
        now = self.clock()
        child = self.child_pid is not None
        return [
            ("loading", int(self.loading)), ("async_loading", 0),
            ("current_cow_peak", 0), ("current_cow_size", 0), ("current_cow_size_age", 0),
            ("current_fork_perc", "0.00"), ("current_save_keys_processed", 0),
            ("current_save_keys_total", 0),
            ("rdb_changes_since_last_save", self.broker.dirty),
            ("rdb_bgsave_in_progress", int(child)),
            ("rdb_last_save_time", self.lastsave),
            ("rdb_last_bgsave_status", "ok" if self.last_bgsave_ok else "err"),
            ("rdb_last_bgsave_time_sec", self.last_bgsave_time_sec),
            ("rdb_current_bgsave_time_sec", int(now - self.child_start) if child else -1),
            ("rdb_saves", self.saves), ("rdb_last_cow_size", 0),
            ("rdb_last_load_keys_expired", self.last_load_keys_expired),
            ("rdb_last_load_keys_loaded", self.last_load_keys_loaded),
        ]

    # ------------------------------------------------------------------ gate

    def write_error(self) -> str | None:
        """The MISCONF refusal while the last BGSAVE failed (``writeCommandsDeniedByDiskError``)."""
        config = self.broker.config
        if (not self.last_bgsave_ok and config.get("stop-writes-on-bgsave-error") == "yes"
                and save_points(config.get("save"))):
            return MISCONF
        return None

    def _refresh_gate(self) -> None:
        self.broker.set_gate(LOADING if self.loading else None, self.write_error())

    def _config_changed(self, name: str, value: str) -> None:
        if name in ("save", "stop-writes-on-bgsave-error"):
            self._refresh_gate()


def _reset_signals() -> None:
    # The parent's handlers (asyncio's wakeup fd) must not run in the child; SIGUSR1
    # is how the parent stops a save it no longer wants, as Redis does.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
        signal.signal(sig, signal.SIG_DFL)
    try:
        signal.set_wakeup_fd(-1)
    except ValueError:
        pass


def _rss() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def describe_error(exc: RdbError, path: str) -> str:
    """The log line for a file that cannot be loaded."""
    return f"Short read or OOM loading DB. Unrecoverable error, aborting now. {path}: {exc}"


