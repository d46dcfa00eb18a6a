"""The Lua interpreter scripts run in, and what ``redis.call`` does (sans-I/O).

``Sandbox`` is one ``lupa.lua51.LuaRuntime`` set up as Redis 7.0 sets up its
interpreter (``scriptingInit``): the libraries, the ``redis`` table, locked
globals (see ``prelude``). ``ScriptRun`` is what one script invocation needs
(caller, keys, flags, chosen RESP version, start time); ``Sandbox.call`` runs a
command from a script through the broker's own handlers with the checks of
``scriptCall`` (arity, ``noscript``, writes in a read-only script), as the
script's own client (same db as the caller at the start; SELECT inside a
script changes only the script's db, as in Redis 7).

Everything runs synchronously inside the command that started the script, so
no other client's command can run in between: a script is atomic because the
core is single-threaded and nothing here awaits.

Runaway scripts: a count hook runs every ``HOOK_COUNT`` Lua instructions and
stops the script once it ran longer than ``busy-reply-threshold``; memory is
bounded by ``LuaRuntime(max_memory=...)`` (``lua-max-memory``). Both end with an
error to the caller, and the interpreter stays usable.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import TYPE_CHECKING, Any, Callable

import lupa.lua51 as lua51

from broker.client import Client
from broker.evict import OOM
from broker.resp import CommandError
from broker.results import Blocked, Replies
from broker.scripting.convert import LuaConverter
from broker.scripting.prelude import PRELUDE
from broker.scripting.tailcalls import untail

if TYPE_CHECKING:
    from broker.core import Broker
    from broker.table import Command

__all__ = ["Sandbox", "ScriptRun", "ScriptClient", "HOOK_COUNT", "version_num"]

log = logging.getLogger("broker.scripting")

# Lua instructions between two runaway checks (Redis: 100000). One check is a
# clock read; 100k instructions take well under a millisecond.
HOOK_COUNT = 100_000
# FUNCTION LOAD's own limit on running a library's code (Redis's LOAD_TIMEOUT_MS), in s.
LOAD_TIMEOUT = 0.5
# Commands Redis 7.0 flags MAY_REPLICATE: refused in read-only scripts like writes.
_MAY_REPLICATE = frozenset({b"publish", b"spublish", b"pfcount"})
_LOG_LEVELS = {0: logging.DEBUG, 1: logging.INFO, 2: logging.INFO, 3: logging.WARNING}
_LRAND48_MAX = 2**31 - 1
# KEYS+ARGV up to this many go to Lua as call arguments (fast); more as two tables
# (Lua's C stack takes some thousands of arguments at most).
_MAX_VARARGS = 200
# What redis.call checks before running a command (bits of _resolve's result).
_CHECK_NOSCRIPT, _CHECK_READONLY, _CHECK_BLOCK = 2, 4, 8
# getAclErrorMessage, by ACL result (broker.acl's DENIED_CMD, DENIED_KEY, DENIED_CHANNEL)
_ACL_REASONS = {1: b"can't run this command or subcommand",
                2: b"can't access at least one of the keys mentioned in the command arguments",
                4: b"can't publish to the channel mentioned in the command"}
_INT64 = 2**63


def version_num(version: str) -> int:
    """``REDIS_VERSION_NUM``: ``"7.0.15"`` -> 0x00070f."""
    parts = (version.split(".") + ["0", "0"])[:3]
    major, minor, patch = (int(p) if p.isdigit() else 0 for p in parts)
    return (major << 16) | (minor << 8) | patch


def _deny_attributes(obj: Any, name: Any, is_setting: bool) -> Any:
    # Lua code must never reach Python attributes (f.__globals__ ...) of the
    # callables the prelude holds.
    raise AttributeError("not accessible from Lua")


class ScriptRun:
    """One running script (``scriptRunCtx``).

    Attributes:
        caller: the client that sent EVAL/FCALL.
        name: the script's SHA or the function's name, for error messages.
        read_only: EVAL_RO/FCALL_RO or a ``no-writes`` script: writes are refused.
        allow_oom / ...: script flags kept for what a later check may need.
    """

    # A plain class with positional arguments, not a dataclass: one is made per
    # EVALSHA, and the generated __init__'s keyword defaults cost more than the rest
    # of setting one up.
    __slots__ = ("caller", "name", "read_only", "started", "resp", "killed", "wrote", "flags", "user", "keys")

    def __init__(self, caller: "Client", name: str, read_only: bool, started: float,
                 flags: frozenset[str] = frozenset()) -> None:
        self.caller = caller
        self.name = name
        self.read_only = read_only
        self.started = started
        self.flags = flags
        self.resp = 2
        self.killed = False
        self.wrote = False
        # the caller's ACL user when it is not all-permissive: each call is checked
        self.user: Any = None
        # the KEYS the caller declared: what a tracking caller's read in the script tracks
        self.keys: Any = ()


class _Rand48:
    """``redisLrand48``: POSIX lrand48 with Redis's seeding; one sequence for the
    server's lifetime (Redis 7 no longer reseeds before each script)."""

    __slots__ = ("state",)
    _A, _C, _MASK = 0x5DEECE66D, 0xB, (1 << 48) - 1

    def __init__(self) -> None:
        self.state = 0x1234ABCD330E

    def seed(self, value: int) -> None:
        value &= 0xFFFFFFFF
        self.state = 0x330E | ((value & 0xFFFF) << 16) | ((value >> 16) << 32)

    def random(self) -> float:
        self.state = (self._A * self.state + self._C) & self._MASK
        return ((self.state >> 17) % _LRAND48_MAX) / _LRAND48_MAX


class Sandbox:
    """A Lua 5.1 interpreter prepared as Redis prepares its own.

    Args:
        broker: the broker whose commands ``redis.call`` runs.
        script_client: the client scripts' commands run as.
        monotonic: clock for the runaway check (seconds).
        libraries: installs cjson/cmsgpack/bit/struct globals at once; None: the
            prelude loads each from ``broker.scripting.libs`` when a script first
            reads its global.
    """

    def __init__(self, broker: "Broker", script_client: "ScriptClient",
                 monotonic: Callable[[], float] = time.monotonic,
                 libraries: Callable[[Any], None] | None = None) -> None:
        self.broker = broker
        self.client = script_client
        self.monotonic = monotonic
        self._libraries = libraries
        self.run: ScriptRun | None = None
        self.rand = _Rand48()
        # Function libraries register here while FUNCTION LOAD runs their code.
        self.register_function: Callable[..., Any] | None = None
        self.max_memory = _config_int(broker, "lua-max-memory")
        self._tracking = broker.tracking
        lua = lua51.LuaRuntime(encoding=None, register_eval=False, register_builtins=False,
                               unpack_returned_tuples=True, attribute_filter=_deny_attributes,
                               max_memory=self.max_memory or None)
        self.lua = lua
        # cjson/struct/cmsgpack/bit: loaded by the prelude on first use (lazy), or
        # installed now by the given installer, before the prelude locks the globals
        lazy = _lazy_libraries(lua) if libraries is None else None
        if libraries is not None:
            libraries(lua)
        # command name as scripts spell it -> (handler, checks, min argc, max argc, command)
        self._by_spelling: dict[bytes, tuple[Any, int, int, int, Any]] = {}
        self._call, self._pcall = self._make_call()
        loader = lua.eval("loadstring")
        chunk = loader(PRELUDE.encode(), b"=fanout_scripting")
        py = lua.table_from({
            b"check": self._check, b"killed": self._killed_error,
            b"call": self._call, b"pcall": self._pcall, b"unwrap": _unwrap, b"setresp": self._setresp,
            b"call_table": self._call_table, b"pcall_table": self._pcall_table,
            b"log": self._log, b"set_repl": self._set_repl, b"sha1hex": self._sha1hex,
            b"acl_check_cmd": self._acl_check_cmd,
            b"rand": self.rand.random, b"srand": self.rand.seed,
            b"register_function": self._register_function,
            b"version": broker.version.encode(), b"version_num": version_num(broker.version),
        })
        if lazy is not None:
            py[b"library_source"], py[b"library_host"] = lazy
        api = chunk(py, HOOK_COUNT)
        self.run_eval = api[b"run_eval"]
        self.run_function = api[b"run_function"]
        # run_eval / run_function of fixed arity: [nkeys * FIXED + nargs] (see the prelude)
        fixed = api[b"fixed"]
        self.fixed_eval = _FixedEntries(api[b"fixed_entry"], b"eval", fixed)
        self.fixed_function = _FixedEntries(api[b"fixed_entry"], b"function", fixed)
        self._fixed = fixed
        self.run_load = api[b"run_load"]
        self._compile = api[b"compile"]
        self._dump = api[b"dump"]
        self._load_binary = api[b"load_binary"]
        self._rearm = api[b"rearm"]
        self._gc = api[b"gc"]
        self._memory = api[b"memory"]
        self.set_load_mode = api[b"set_load_mode"]
        self.err = api[b"err"]
        self.convert = LuaConverter(lua.table_from, api[b"classify"], _is_table, self._count_error)
        self._runs = 0
        # FUNCTION LOAD in progress: when it started, and whether it was stopped
        self.load_started: float | None = None
        self.load_killed = False
        # what setting up left behind (the prelude's main chunk and source, tables
        # made on the way): collected now, so used_memory_lua starts at what the
        # interpreter holds
        del chunk, loader, py, api
        self._gc()

    def renewed(self) -> "Sandbox":
        """A fresh interpreter set up as this one (SCRIPT FLUSH: Redis's
        ``scriptingReset`` makes a new Lua state, libraries not loaded yet), the
        PRNG's sequence going on (Redis's is the server's, not the state's)."""
        fresh = Sandbox(self.broker, self.client, self.monotonic, self._libraries)
        fresh.rand.state = self.rand.state
        return fresh

    def memory_used(self) -> int:
        """Bytes the interpreter holds (Lua's ``collectgarbage('count')``, as Redis's
        ``lua_gc(LUA_GCCOUNT)``)."""
        return int(self._memory() * 1024)

    # ------------------------------------------------------------ compiling

    def compile(self, body: bytes, chunk_name: bytes) -> Any:
        """A Lua function of ``body``; raises CommandError with Lua's message."""
        try:
            result = self._compile(body, chunk_name)
        except lua51.LuaMemoryError:
            self.recover()
            raise CommandError("ERR Error compiling script (new function): not enough memory") from None
        if type(result) is tuple:
            raise _CompileError(result[1].decode("utf-8", "replace") if result[1] else "error")
        return self._untail(result, chunk_name)

    def _untail(self, function: Any, chunk_name: bytes) -> Any:
        """``function`` with its tail calls made plain calls (``tailcalls.untail``),
        so `return cjson.decode(bad)` keeps the script's frame and its error the
        `user_script:N:` prefix, as Redis's C libraries leave them; compiled once per
        script. The function as it is when its bytecode cannot be patched."""
        try:
            patched = self._load_binary(untail(self._dump(function)), chunk_name)
        except (ValueError, lua51.LuaError):
            return function
        if type(patched) is tuple or patched is None:
            return function
        return patched

    # ------------------------------------------------------------ running

    def execute(self, run: ScriptRun, runner: Any, function: Any, keys: Any, args: Any,
                fixed: dict[int, Any] | None = None) -> Any:
        """Run ``function`` through ``runner`` (run_eval / run_function) and
        return the caller's reply (errors as CommandError values).

        ``fixed``: ``runner``'s entry points of fixed arity (``fixed_eval`` /
        ``fixed_function``), taken when the keys and arguments are few.
        """
        client = self.client
        client.db = run.caller.db
        client.proto = 2
        # the script's commands run as the caller's user (scriptCall), so that commands
        # reading it themselves (SORT's BY/GET) answer for the caller
        client.user = user = run.caller.user
        run.user = user if user is not None and not user.unrestricted else None
        self.run = run
        run.keys = keys
        nkeys, nargs, limit = len(keys), len(args), self._fixed
        # BCAST NOLOOP spares a client its own writes, not its script's (Redis files
        # them under the Lua client)
        tracking = self._tracking
        bcast = bool(tracking.prefixes)
        if bcast:
            tracking.scripting = True
        try:
            if nkeys < limit and nargs < limit and fixed is not None:
                outcome = fixed[nkeys * limit + nargs](function, *keys, *args)
            elif nkeys + nargs <= _MAX_VARARGS:
                outcome = runner(function, nkeys, *keys, *args)
            else:
                outcome = runner(function, -1, self.lua.table_from(keys), self.lua.table_from(args))
        except lua51.LuaMemoryError:
            outcome = (3, b"not enough memory")
        except lua51.LuaError as exc:
            outcome = (3, str(exc).encode())
        finally:
            self.run = None
            if bcast:
                tracking.scripting = False
        if run.killed:
            # the hook fires every instruction since the stop: back to HOOK_COUNT
            self._rearm()
        self._runs = runs = self._runs + 1
        kind = type(outcome)
        if kind is not tuple:
            # the script's own value, not a table, no error: the common case
            if kind is int and -_INT64 <= outcome < _INT64 or kind is bytes:
                reply = outcome
            else:
                reply = self.convert.to_reply(outcome, run.resp, run.caller.proto)
        else:
            reply = self._reply(run, outcome)
            if outcome[0] == 3:
                self.recover()
                return reply
        if runs % 50 == 0:
            # Redis's LUA_GC_CYCLE_PERIOD: a collection step every 50 scripts keeps
            # the collector's work spread out
            self._gc(50)
        return reply

    def _reply(self, run: ScriptRun, outcome: tuple[Any, ...]) -> Any:
        """The reply for an outcome tuple: (1, kind, parts...) a table,
        (2, message, source, line) a Redis error, (3, text) any other error."""
        code = outcome[0]
        if code == 1:
            return self.convert.from_table(outcome[1:], run.resp, run.caller.proto)
        if run.killed:
            return self._uncounted(CommandError(self._kill_message(run)))
        if code == 2:
            message, source, line, counted = (list(outcome[1:]) + [None, None, None, None])[:4]
            text = _text(message) if message is not None else "ERR unknown error"
            if source is not None and line is not None:
                text += f" script: {run.name}, on {_text(source)}:{_text(line)}."
            error = CommandError(text)
            # a command's error raised by redis.call is in errorstats already
            return error if counted is True else self._uncounted(error)
        detail = _text(outcome[1]) if len(outcome) > 1 else "execution failure"
        if "not enough memory" in detail:
            return self._uncounted(CommandError(
                f"ERR Error running script {run.name}, not enough memory: the script needed more than "
                f"lua-max-memory ({self.max_memory} bytes)"))
        return self._uncounted(CommandError(f"ERR Error running script {run.name}, {detail[:100]}"))

    def _count_error(self, message: str) -> None:
        """An error the script replies that no command counted: INFO errorstats and
        total_error_replies (the caller's failed_calls is Broker.call's)."""
        self.broker.cmdstats.error(None, message, False)

    def _uncounted(self, error: CommandError) -> CommandError:
        self._count_error(error.message)
        return error

    def recover(self) -> None:
        """A full collection, with the memory cap lifted meanwhile (after a script hit
        the cap, even the collector's own bookkeeping may not fit under it)."""
        try:
            if self.max_memory:
                self.lua.set_max_memory(1 << 40)
            self._gc()
        finally:
            if self.max_memory:
                self.lua.set_max_memory(self.max_memory)

    def set_max_memory(self, limit: int) -> None:
        self.max_memory = limit
        self.lua.set_max_memory(limit or (1 << 40))

    # ------------------------------------------------------------ the hook

    def _check(self) -> bool:
        run = self.run
        if run is None:
            started = self.load_started
            if started is not None and (self.load_killed or self.monotonic() - started > LOAD_TIMEOUT):
                self.load_killed = True
                return True
            return False
        if run.killed:
            return True
        threshold = _config_int(self.broker, "busy-reply-threshold")
        if threshold > 0 and (self.monotonic() - run.started) * 1000 > threshold:
            run.killed = True
            log.warning("Lua script %s stopped after running longer than busy-reply-threshold (%d ms)",
                        run.name, threshold)
            return True
        return False

    def _kill_message(self, run: ScriptRun) -> str:
        threshold = _config_int(self.broker, "busy-reply-threshold")
        return (f"ERR Script killed: it ran longer than busy-reply-threshold (lua-time-limit, {threshold} ms) "
                f"script: {run.name}")

    def _killed_error(self) -> Any:
        if self.run is None:
            return self.err(b"ERR FUNCTION LOAD timeout")
        return self.err(b"ERR Script killed: it ran longer than busy-reply-threshold")

    def begin_load(self) -> None:
        """FUNCTION LOAD runs a library's code: stop it past LOAD_TIMEOUT, as Redis does."""
        self.load_started = self.monotonic()
        self.load_killed = False

    def end_load(self) -> None:
        if self.load_killed:
            self._rearm()
        self.load_started = None
        self.load_killed = False

    # ------------------------------------------------------------ redis.* callbacks

    def _make_call(self) -> tuple[Callable[..., Any], Callable[..., Any]]:
        """redis.call and redis.pcall (``scriptCall``).

        Closures over what every call needs, not bound methods: Lua calls them once
        per ``redis.call``, the hottest path of a script, so each attribute lookup
        and Python frame saved here counts. redis.call raises an error into Lua as
        ``_Raise``; redis.pcall returns the error table instead.
        """
        sandbox = self
        broker = self.broker
        by_spelling = self._by_spelling
        client = self.client
        resolve = self._resolve
        # MONITOR's clients (the dict itself, which lives as long as the broker)
        monitoring = broker.monitors.clients

        def call(*args: Any) -> Any:
            run = sandbox.run
            if run is None:
                sandbox._fail(b"ERR redis.call/pcall can only be called inside a script invocation")
            if not args:
                sandbox._fail(b"ERR Please specify at least one argument for this redis lib call")
            for arg in args:
                if type(arg) is not bytes:
                    argv = [_argument(arg) for arg in args]
                    if None in argv:
                        sandbox._fail(b"ERR Lua redis lib command arguments must be strings or integers")
                    break
            else:
                argv = list(args)
            entry = by_spelling.get(argv[0])
            if entry is None:
                entry = resolve(argv)
            handler, checks, low, high, _ = entry
            # a write in a script that may write is the one check that passes silently
            # (unless the script started out of memory: scriptVerifyOOM; or its user is restricted)
            if (checks and (checks != _CHECK_READONLY or run.read_only or broker.pre_command_oom or broker.gated)) \
                    or not low <= len(argv) <= high or run.user is not None:
                sandbox._verify(run, entry, argv)  # type: ignore[arg-type]
            # Broker.call without its bookkeeping of the caller's last command (the
            # script client is never listed): the handler itself, counted in the stats
            # (timed with the script's caller: see broker/cmdstats.py).
            entry[4].calls += 1
            changes = broker.changes
            try:
                reply = handler(client, argv)
            except CommandError as exc:
                reply = exc
                broker.cmdstats.error(entry[4], exc.message, False)
            else:
                command = entry[4]
                if command.write and broker.changes != changes:
                    # a script's writes are changes since the last save (Redis's call()
                    # adds each command's dirty, the script's included; as broker.dirty)
                    broker.dirty += 1 if command.dirty_of is None else command.dirty_of(argv, reply)
            kind = type(reply)
            if broker.propagating and broker.changes != changes and kind is not Blocked:
                # effects replication: the command as it must replay, in the unit of the
                # script's caller (EVAL/FCALL hand the unit on, wrapped in MULTI/EXEC)
                broker.propagator.record(client, entry[4], argv, reply)
            if monitoring or run.caller.tracking is not None:
                sandbox._observe(entry[4], argv, run)
            if kind is bytes or kind is int:
                return reply
            return sandbox._to_lua(reply, kind, run)  # type: ignore[union-attr]

        def pcall(*args: Any) -> Any:
            try:
                return call(*args)
            except _Raise as failure:
                return failure.table

        return call, pcall

    def _call_table(self, table: Any, count: int) -> Any:
        """redis.call of more arguments than lupa passes one by one (see the prelude)."""
        return self._call(*[table[i] for i in range(1, count + 1)])

    def _pcall_table(self, table: Any, count: int) -> Any:
        return self._pcall(*[table[i] for i in range(1, count + 1)])

    def _observe(self, cmd: "Command", argv: list[bytes], run: ScriptRun) -> None:
        """After a script's command: MONITOR shows it (``[db lua]``), and a read makes
        a tracking caller track the keys the script declared (Redis's call())."""
        broker = self.broker
        if broker.monitors.clients and broker.monitors.shown(cmd):
            broker.monitors.feed(self.client, argv, script=True)
        if run.caller.tracking is not None and "readonly" in cmd.flags and run.keys:
            broker.tracking.remember_keys(run.caller, list(run.keys))

    def _fail(self, message: bytes) -> Any:
        raise _Raise(self.err(message))

    def _refuse(self, cmd: "Command | None", message: bytes) -> Any:
        """scriptCall's refusal: counted at once (errorstats, and ``cmd``'s
        rejected_calls), so the script's reply of it is not counted again."""
        self.broker.cmdstats.error(cmd, message.decode("utf-8", "replace"), True)
        raise _Raise(self.err(message, True))

    def _to_lua(self, reply: Any, kind: type, run: ScriptRun) -> Any:
        """A command's reply other than bytes or int, as redis.call returns it."""
        if kind is Blocked:
            # a script never blocks: the command answers as on a timeout (BLMPOP ...)
            reply = reply.timeout_reply
        elif kind is Replies:
            reply = list(reply)
        if isinstance(reply, CommandError):
            raise _Raise(self.convert.error_table(reply.message))
        return self.convert.to_lua(reply, run.resp)

    def _resolve(self, argv: list[bytes]) -> tuple[Any, int, int, int, Any]:
        """(handler, checks, min argc, max argc, command) for a script's argv;
        remembered by spelling when the command has no subcommands."""
        head = argv[0]
        cmd = self.broker.commands.get(head.lower())
        container = cmd is not None and cmd.handler is None
        if container and len(argv) > 1:
            cmd = cmd.subcommands.get(argv[1].lower())  # type: ignore[union-attr]
        if cmd is None:
            self._refuse(None, b"ERR Unknown Redis command called from script")
        assert cmd is not None
        checks = 0
        flags = cmd.flags
        if "noscript" in flags:
            checks |= _CHECK_NOSCRIPT
        if "write" in flags or cmd.name.encode() in _MAY_REPLICATE:
            checks |= _CHECK_READONLY
        if cmd.name in ("xread", "xreadgroup"):
            checks |= _CHECK_BLOCK
        arity = cmd.arity
        entry = (cmd.handler, checks, arity if arity > 0 else -arity, arity if arity > 0 else 1 << 62, cmd)
        if not container and len(self._by_spelling) < 4096:
            self._by_spelling[head] = entry
        return entry

    def _verify(self, run: ScriptRun, entry: tuple[Any, int, int, int, "Command"], argv: list[bytes]) -> None:
        """The checks of ``scriptCall`` past the common case; raise _Raise on a refusal."""
        checks, cmd = entry[1], entry[4]
        arity = cmd.arity
        if (arity > 0 and len(argv) != arity) or len(argv) < -arity:
            self._refuse(cmd, b"ERR Wrong number of args calling Redis command from script")
        if checks & _CHECK_NOSCRIPT:
            self._refuse(cmd, b"ERR This Redis command is not allowed from script")
        if run.user is not None:
            result, position = run.user.check(cmd, argv)
            if result:
                # scriptVerifyACL: logged with the caller, in the "lua" context
                self.broker.acl_denied(run.caller, cmd, argv, result, position, "lua")
                self._refuse(cmd, b"ERR The user executing the script " + _ACL_REASONS[result])
        if checks & _CHECK_READONLY and run.read_only:
            self._refuse(cmd, b"ERR Write commands are not allowed from read-only scripts.")
        if self.broker.replicas_refusal is not None and "write" in cmd.flags and not run.wrote:
            # scriptVerifyWriteCommandAllow: a script without flags learns it at its first write
            self._refuse(cmd, self.broker.replicas_refusal.encode())
        if self.broker.pre_command_oom and self.broker.maxmemory and "allow-oom" not in run.flags:
            # scriptVerifyOOM: refused only before the script's first write, since
            # it cannot be stopped half-way after that
            if not run.wrote and "denyoom" in cmd.flags:
                self._refuse(cmd, OOM.encode())
            if "write" in cmd.flags:
                run.wrote = True
        if checks & _CHECK_BLOCK and any(arg.lower() == b"block" for arg in argv[1:]):
            # t_stream.c refuses to block a script rather than answer at once
            # (the command's own error: it ran and failed)
            message = f"ERR {argv[0].decode('utf-8', 'replace')} command is not allowed with BLOCK option from scripts"
            cmd.calls += 1
            self.broker.cmdstats.error(cmd, message, False)
            raise _Raise(self.convert.error_table(message))

    def _raise(self, message: bytes) -> None:
        raise _Raise(self.err(message))

    def _setresp(self, *args: Any) -> None:
        if self.run is None:
            self._raise(b"ERR redis.setresp can only be called inside a script invocation")
        if len(args) != 1:
            self._raise(b"ERR redis.setresp() requires one argument.")
        resp = _truncate(_lua_tonumber(args[0]) or 0)
        if resp not in (2, 3):
            self._raise(b"ERR RESP version must be 2 or 3.")
        assert self.run is not None
        self.run.resp = resp
        self.client.proto = resp

    def _log(self, *args: Any) -> None:
        if len(args) < 2:
            self._raise(b"ERR redis.log() requires two arguments or more.")
        level = _lua_tonumber(args[0])
        if level is None:
            self._raise(b"ERR First argument must be a number (log level).")
        level = _truncate(level)
        if not 0 <= level <= 3:
            self._raise(b"ERR Invalid debug level.")
        parts = [_lua_tostring(arg) for arg in args[1:]]
        message = b" ".join(part for part in parts if part is not None)
        log.log(_LOG_LEVELS.get(level, logging.INFO), "%s", message.decode("utf-8", "replace"))

    def _set_repl(self, *args: Any) -> None:
        if self.run is None:
            self._raise(b"ERR redis.set_repl can only be called inside a script invocation")
        if len(args) != 1:
            self._raise(b"ERR redis.set_repl() requires two arguments.")
        if _truncate(_lua_tonumber(args[0]) or 0) & ~3:
            self._raise(b"ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.")

    def _sha1hex(self, *args: Any) -> bytes:
        if len(args) != 1:
            self._raise(b"ERR wrong number of arguments")
        return _sha1hex(_lua_tostring(args[0]) or b"")

    def _acl_check_cmd(self, *args: Any) -> Any:
        if self.run is None:
            self._raise(b"ERR redis.acl_check_cmd can only be called inside a script invocation")
        if not args:
            self._raise(b"ERR Please specify at least one argument for this redis lib call")
        argv = [_argument(arg) for arg in args]
        cmd = self.broker.commands.get(argv[0].lower()) if argv[0] is not None else None
        if cmd is not None and cmd.handler is None:
            cmd = cmd.subcommands.get(argv[1].lower()) if len(argv) > 1 and argv[1] is not None else None
        if cmd is None or None in argv:
            self._raise(b"ERR Invalid command passed to redis.acl_check_cmd()")
        assert self.run is not None and cmd is not None
        user = self.run.caller.user
        return user is None or user.check(cmd, argv)[0] == 0

    def _register_function(self, *args: Any) -> Any:
        if self.register_function is None:
            self._raise(b"ERR redis.register_function can only be called on FUNCTION LOAD command")
        assert self.register_function is not None
        result = self.register_function(*args)
        if type(result) is tuple:
            raise _Raise(result[0])
        return result


class _FixedEntries(dict[int, Any]):
    """The prelude's entry points of fixed arity by ``nkeys * FIXED + nargs``, each
    made when first asked for (``__missing__``: the lookup of one made already is a
    plain dict lookup)."""

    def __init__(self, make: Any, kind: bytes, fixed: int) -> None:
        super().__init__()
        self._make = make
        self._kind = kind
        self._fixed = fixed

    def __missing__(self, index: int) -> Any:
        entry = self[index] = self._make(self._kind, *divmod(index, self._fixed))
        return entry


class _Raise(Exception):
    """Raised by a Python callable to raise a Lua error whose value is ``table``:
    lupa hands Lua the exception as a userdata, which the prelude unwraps."""

    def __init__(self, table: Any) -> None:
        super().__init__("redis error")
        self.table = table


def _unwrap(error: Any) -> Any:
    if isinstance(error, _Raise):
        return error.table
    return error


class _CompileError(CommandError):
    def __init__(self, lua_message: str) -> None:
        super().__init__(lua_message)
        self.lua_message = lua_message


def _argument(value: Any) -> bytes | None:
    """A redis.call argument as bytes: Lua numbers as ``%.17g`` (lupa hands integral
    ones over as int), anything but strings and numbers None."""
    kind = type(value)
    if kind is bytes:
        return value  # type: ignore[no-any-return]
    if kind is int:
        return b"%d" % value if -10**17 < value < 10**17 else b"%.17g" % float(value)
    if kind is float:
        return b"%.17g" % value
    return None


def _lua_tonumber(value: Any) -> float | int | None:
    """``lua_tonumber``: numbers, and strings that read as one (decimal or 0x hex)."""
    if type(value) is int or type(value) is float:
        return value
    if type(value) is bytes:
        text = value.strip()
        try:
            return float(text) if not text.lower().startswith((b"0x", b"-0x")) else int(text, 16)
        except ValueError:
            return None
    return None


def _lua_tostring(value: Any) -> bytes | None:
    """``lua_tolstring``: strings as they are, numbers as ``%.14g``, else None."""
    if type(value) is bytes:
        return value
    if type(value) is int or type(value) is float:
        return b"%.14g" % value
    return None


def _truncate(number: float | int) -> int:
    try:
        return int(number)
    except (OverflowError, ValueError):
        return -(2**31)


def _sha1hex(data: bytes) -> bytes:
    return hashlib.sha1(data).hexdigest().encode()


def _is_table(value: Any) -> bool:
    return lua51.lua_type(value) == "table"


def _text(value: Any) -> str:
    if type(value) is bytes:
        return value.decode("utf-8", "replace")
    return str(value)


def _config_int(broker: "Broker", name: str) -> int:
    try:
        return int(broker.config.get(name))
    except (KeyError, ValueError):
        return 0


def _lazy_libraries(lua: Any) -> tuple[Callable[[bytes], bytes], Any] | None:
    """What the prelude loads cjson/cmsgpack/bit/struct with on first use: the
    files' source (``broker.scripting.libs.source``) and their host functions;
    None when the libraries are not there."""
    try:
        from broker.scripting import libs  # noqa: PLC0415  (optional, written separately)
    except ImportError:
        return None
    return libs.source, libs.host(lua)


class ScriptClient(Client):
    """The client scripts' commands run as (Redis's ``lua_client``): never
    connected, so CLIENT LIST does not show it and nothing is delivered to it."""

    # Redis's CLIENT_SCRIPT flag: commands whose result would depend on an unordered
    # container's order (SORT BY nosort of a set) sort it instead
    is_script = True
    # its commands run inside EVAL/FCALL, which the pause already held or let through
    pause_exempt = True

    def __init__(self, broker: "Broker") -> None:
        super().__init__(broker, addr="", laddr="")
        self.name = b""
        self.authenticated = True
        self.refresh_special()

    def deliver(self, message: Any) -> None:  # scripts cannot subscribe
        pass

    def resume(self, reply: Any) -> None:  # scripts never block
        pass
