"""Scripting commands: EVAL EVALSHA EVAL_RO EVALSHA_RO SCRIPT FUNCTION FCALL FCALL_RO
(``eval.c``, ``functions.c``; the interpreter is ``broker.scripting``).

A script runs to its end inside the command that started it: nothing else runs
meanwhile. SCRIPT KILL / FUNCTION KILL therefore never find a script running
(``NOTBUSY``); a runaway script is stopped by the broker itself past
``busy-reply-threshold`` (see ``broker.scripting.engine``).
"""

from __future__ import annotations

import hashlib
from typing import Any

from broker.commands.args import parse_int
from broker.client import Client
from broker.resp import OK, CommandError, Simple
from broker.scripting import scripting_of
from broker.scripting.engine import ScriptRun
from broker.scripting.evalcache import NOSCRIPT, RO_WRITE_SCRIPT, parse_shebang
from broker.table import COMMANDS, command, container, subcommand

__all__: list[str] = []

_NOTBUSY = "NOTBUSY No scripts in execution right now."


# numkeys as clients send it -> int, for the usual few (parse_int is most of _split)
_NUMKEYS = {b"%d" % n: n for n in range(17)}


def _split(argv: list[bytes], numkeys_error: str | None = None) -> tuple[list[bytes], list[bytes]]:
    """KEYS and ARGV of ``<cmd> <script> numkeys [key ...] [arg ...]``."""
    numkeys = _NUMKEYS.get(argv[2])
    if numkeys is None:
        try:
            numkeys = parse_int(argv[2])
        except CommandError:
            if numkeys_error is not None:
                raise CommandError(numkeys_error) from None
            raise
    if numkeys > len(argv) - 3:
        raise CommandError("ERR Number of keys can't be greater than number of args")
    if numkeys < 0:
        raise CommandError("ERR Number of keys can't be negative")
    return argv[3:3 + numkeys], argv[3 + numkeys:]


def _eval(client: Client, argv: list[bytes], ro: bool) -> Any:
    keys, args = _split(argv)
    scripts = scripting_of(client.broker).eval
    script = scripts.load(argv[1])
    return scripts.run(client, script, keys, args, ro)


def _evalsha(client: Client, argv: list[bytes], ro: bool) -> Any:
    broker = client.broker
    scripts = (getattr(broker, "scripting", None) or scripting_of(broker)).eval
    sha = argv[1]
    if len(sha) != 40:
        raise CommandError(NOSCRIPT)
    # _split's common case inline (a numkeys of 0-16 that the arguments cover): this
    # runs for every EVALSHA
    numkeys = _NUMKEYS.get(argv[2])
    if numkeys is not None and numkeys <= len(argv) - 3:
        keys, args = argv[3:3 + numkeys], argv[3 + numkeys:]
    else:
        keys, args = _split(argv)
    script = scripts.by_raw.get(sha) or scripts.find(sha)
    if script is None:
        raise CommandError(NOSCRIPT)
    # EvalScripts.run inline (one Python frame less on every EVALSHA)
    if ro and not script.ro_allowed:
        raise CommandError(RO_WRITE_SCRIPT)
    sandbox = scripts.sandbox
    return sandbox.execute(ScriptRun(client, script.sha, ro or script.read_only, sandbox.monotonic(),
                                     script.run_flags),
                           sandbox.run_eval, script.function, keys, args, sandbox.fixed_eval)


# EVAL script numkeys [key ...] [arg ...]
@command("eval", -3, "noscript stale skip_monitor may_replicate no_mandatory_keys", group="scripting",
         since="2.6.0")
def eval_(client: Client, argv: list[bytes]) -> Any:
    return _eval(client, argv, False)


# EVAL_RO script numkeys [key ...] [arg ...]
@command("eval_ro", -3, "noscript skip_monitor no_mandatory_keys readonly", group="scripting", since="7.0.0")
def eval_ro(client: Client, argv: list[bytes]) -> Any:
    return _eval(client, argv, True)


# EVALSHA sha1 numkeys [key ...] [arg ...]
@command("evalsha", -3, "noscript stale skip_monitor may_replicate no_mandatory_keys", group="scripting",
         since="2.6.0")
def evalsha(client: Client, argv: list[bytes]) -> Any:
    return _evalsha(client, argv, False)


# EVALSHA_RO sha1 numkeys [key ...] [arg ...]
@command("evalsha_ro", -3, "noscript skip_monitor no_mandatory_keys readonly", group="scripting",
         since="7.0.0")
def evalsha_ro(client: Client, argv: list[bytes]) -> Any:
    return _evalsha(client, argv, True)


def _script_command_flags(client: Client, argv: list[bytes]) -> frozenset[str]:
    """``evalGetCommandFlags`` / ``fcallGetCommandFlags``: a script that declares
    flags (a shebang, or any function) gets the command flags they imply
    (``scriptFlagsToCmdFlags``: deny-oom unless allow-oom or no-writes); a script
    without a shebang, or one not found, keeps the command's own."""
    name = argv[0].lower()
    base = COMMANDS[name].flags
    scripting = scripting_of(client.broker)
    declared: frozenset[str] | None
    if name in (b"fcall", b"fcall_ro"):
        function = scripting.functions.find(argv[1])
        if function is None:
            return base
        declared = function.flags
    elif name in (b"evalsha", b"evalsha_ro"):
        script = scripting.eval.find(argv[1]) if len(argv[1]) == 40 else None
        if script is None:
            return base
        declared = script.flags
    else:
        script = scripting.eval.scripts.get(hashlib.sha1(argv[1]).hexdigest())
        try:
            declared = script.flags if script is not None else parse_shebang(argv[1])[0]
        except CommandError:
            return base
    if declared is None:
        return base
    flags = set(base) - {"stale", "denyoom", "write"}
    if not declared & {"allow-oom", "no-writes"}:
        flags.add("denyoom")
    if "no-writes" not in declared:
        flags.add("write")
    if "allow-stale" in declared:
        flags.add("stale")
    return frozenset(flags)


# ------------------------------------------------------------------ SCRIPT

_script = container("script", "", group="scripting", since="2.6.0")

_SCRIPT_HELP = [
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Prints this help.",
]


# SCRIPT LOAD script
@subcommand(_script, "load", 3, "noscript stale")
def script_load(client: Client, argv: list[bytes]) -> bytes:
    return scripting_of(client.broker).eval.load(argv[2]).sha.encode()


# SCRIPT EXISTS sha1 [sha1 ...]
@subcommand(_script, "exists", -3, "noscript stale")
def script_exists(client: Client, argv: list[bytes]) -> list[int]:
    scripts = scripting_of(client.broker).eval.scripts
    # the cache is keyed by the lower-case SHA; Redis compares case-insensitively too
    return [1 if sha.decode("latin-1").lower() in scripts else 0 for sha in argv[2:]]


# SCRIPT FLUSH [ASYNC|SYNC]
@subcommand(_script, "flush", -2, "noscript stale")
def script_flush(client: Client, argv: list[bytes]) -> object:
    if len(argv) > 3 or (len(argv) == 3 and argv[2].lower() not in (b"sync", b"async")):
        raise CommandError("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
    scripting_of(client.broker).eval.flush()
    return OK


# SCRIPT KILL
@subcommand(_script, "kill", 2, "noscript allow_busy")
def script_kill(client: Client, argv: list[bytes]) -> object:
    raise CommandError(_NOTBUSY)


# SCRIPT DEBUG YES|SYNC|NO
@subcommand(_script, "debug", 3, "noscript")
def script_debug(client: Client, argv: list[bytes]) -> object:
    mode = argv[2].lower()
    if mode == b"no":
        return OK
    if mode in (b"yes", b"sync"):
        raise CommandError("ERR SCRIPT DEBUG is not supported by this server")
    raise CommandError("ERR Use SCRIPT DEBUG YES/SYNC/NO")


# SCRIPT HELP
@subcommand(_script, "help", 2, "loading stale")
def script_help(client: Client, argv: list[bytes]) -> list[Any]:
    return [Simple(line) for line in _SCRIPT_HELP]


# ------------------------------------------------------------------ FCALL

def _fcall(client: Client, argv: list[bytes], ro: bool) -> Any:
    functions = scripting_of(client.broker).functions
    function = functions.find(argv[1])
    if function is None:
        raise CommandError("ERR Function not found")
    keys, args = _split(argv, "ERR Bad number of keys provided")
    return functions.call(client, function, keys, args, ro)


# FCALL function numkeys [key ...] [arg ...]
@command("fcall", -3, "noscript stale skip_monitor may_replicate no_mandatory_keys", group="scripting",
         since="7.0.0")
def fcall(client: Client, argv: list[bytes]) -> Any:
    return _fcall(client, argv, False)


# FCALL_RO function numkeys [key ...] [arg ...]
@command("fcall_ro", -3, "noscript stale skip_monitor no_mandatory_keys readonly", group="scripting",
         since="7.0.0")
def fcall_ro(client: Client, argv: list[bytes]) -> Any:
    return _fcall(client, argv, True)


# ------------------------------------------------------------------ FUNCTION

_function = container("function", "", group="scripting", since="7.0.0")

_FUNCTION_HELP = [
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION "
    "RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
]


# FUNCTION LOAD [REPLACE] function-code
@subcommand(_function, "load", -3, "write denyoom noscript")
def function_load(client: Client, argv: list[bytes]) -> bytes:
    replace = False
    pos = 2
    while pos < len(argv) - 1:
        option = argv[pos]
        pos += 1
        if option.lower() == b"replace":
            replace = True
            continue
        raise CommandError(f"ERR Unknown option given: {option.decode('utf-8', 'replace')}")
    if pos >= len(argv):
        raise CommandError("ERR Function code is missing")
    return scripting_of(client.broker).functions.load(argv[pos], replace).encode()


# FUNCTION DELETE library-name
@subcommand(_function, "delete", 3, "write noscript")
def function_delete(client: Client, argv: list[bytes]) -> object:
    scripting_of(client.broker).functions.delete(argv[2])
    return OK


# FUNCTION FLUSH [ASYNC|SYNC]
@subcommand(_function, "flush", -2, "write noscript")
def function_flush(client: Client, argv: list[bytes]) -> object:
    if len(argv) > 3:
        # addReplySubcommandSyntaxError: the subcommand as sent, the command upper-cased
        raise CommandError(f"ERR unknown subcommand or wrong number of arguments for "
                           f"'{argv[1][:128].decode('utf-8', 'replace')}'. "
                           f"Try {argv[0].decode('utf-8', 'replace').upper()} HELP.")
    if len(argv) == 3 and argv[2].lower() not in (b"sync", b"async"):
        raise CommandError("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
    scripting_of(client.broker).functions.flush()
    return OK


# FUNCTION LIST [LIBRARYNAME library-name-pattern] [WITHCODE]
@subcommand(_function, "list", -2, "noscript")
def function_list(client: Client, argv: list[bytes]) -> list[Any]:
    with_code = False
    pattern: bytes | None = None
    i = 2
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not with_code and arg.lower() == b"withcode":
            with_code = True
            continue
        if pattern is None and arg.lower() == b"libraryname":
            if i >= len(argv):
                raise CommandError("ERR library name argument was not given")
            pattern = argv[i]
            i += 1
            continue
        raise CommandError(f"ERR Unknown argument {arg.decode('utf-8', 'replace')}")
    return scripting_of(client.broker).functions.listing(pattern, with_code)


# FUNCTION DUMP
@subcommand(_function, "dump", 2, "noscript")
def function_dump(client: Client, argv: list[bytes]) -> bytes:
    return scripting_of(client.broker).functions.dump()


# FUNCTION RESTORE serialized-value [FLUSH|APPEND|REPLACE]
@subcommand(_function, "restore", -3, "write denyoom noscript")
def function_restore(client: Client, argv: list[bytes]) -> object:
    if len(argv) > 4:
        raise CommandError(f"ERR unknown subcommand or wrong number of arguments for "
                           f"'{argv[1].decode('utf-8', 'replace')}'. Try FUNCTION HELP.")
    policy = "append"
    if len(argv) == 4:
        policy = argv[3].decode("utf-8", "replace").lower()
        if policy not in ("append", "replace", "flush"):
            raise CommandError("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")
    scripting_of(client.broker).functions.restore(argv[2], policy)
    return OK


# FUNCTION STATS
@subcommand(_function, "stats", 2, "noscript allow_busy")
def function_stats(client: Client, argv: list[bytes]) -> dict[bytes, Any]:
    return scripting_of(client.broker).functions.stats()


# FUNCTION KILL
@subcommand(_function, "kill", 2, "noscript allow_busy")
def function_kill(client: Client, argv: list[bytes]) -> object:
    raise CommandError(_NOTBUSY)


# FUNCTION HELP
@subcommand(_function, "help", 2, "loading stale")
def function_help(client: Client, argv: list[bytes]) -> list[Any]:
    return [Simple(line) for line in _FUNCTION_HELP]


for _name in (b"eval", b"eval_ro", b"evalsha", b"evalsha_ro", b"fcall", b"fcall_ro"):
    COMMANDS[_name].flags_of = _script_command_flags
