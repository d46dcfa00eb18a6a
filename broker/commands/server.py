"""Server commands: INFO CONFIG COMMAND DBSIZE FLUSHDB FLUSHALL TIME."""

from __future__ import annotations

import os
import platform
import resource
import sys
from typing import Any

from broker.commands.args import SYNTAX
from broker.client import Client
from broker.glob import glob_match
from broker.acl import categories
from broker.commands.acl import OrderedSet
from broker import commandinfo
from broker.keyspecs import MOVABLE, keys_of
from broker.config_params import HIDDEN
from broker.resp import OK, CommandError, Simple, Verbatim
from broker.scripting import memory_info as scripting_memory_info
from broker.table import COMMANDS, Command, command, container, subcommand

__all__: list[str] = []


# DBSIZE
@command("dbsize", 1, "readonly fast", group="server")
def dbsize(client: Client, argv: list[bytes]) -> int:
    return len(client.db)


def _flush_mode(argv: list[bytes]) -> None:
    if len(argv) > 2 or (len(argv) == 2 and argv[1].upper() not in (b"ASYNC", b"SYNC")):
        raise CommandError("ERR syntax error")


# FLUSHDB [ASYNC|SYNC]
@command("flushdb", -1, "write", group="server")
def flushdb(client: Client, argv: list[bytes]) -> object:
    _flush_mode(argv)
    client.broker.touch_all_watched(client.db.index)
    client.broker.dirty += len(client.db)  # emptyData's count (broker.dirty)
    client.broker.lazyfree.drop_keyspace(client.db.flush())
    client.broker.tracking.invalidate_all()
    client.broker.changes += 1  # recorded even when the db was empty, as Redis forces it
    return OK


# FLUSHALL [ASYNC|SYNC]
@command("flushall", -1, "write", group="server")
def flushall(client: Client, argv: list[bytes]) -> object:
    _flush_mode(argv)
    client.broker.touch_all_watched(None)
    # emptyData's count, before the save below resets the counter (broker.dirty)
    client.broker.dirty += sum(len(db) for db in client.broker.dbs)
    for db in client.broker.dbs:
        client.broker.lazyfree.drop_keyspace(db.flush())
    client.broker.tracking.invalidate_all()
    client.broker.changes += 1  # recorded even when every db was empty, as Redis does
    # flushAllDataAndResetRDB: an old snapshot must not bring the data back
    client.broker.persistence.after_flushall()
    return OK


# TIME
@command("time", 1, "loading stale fast", group="server", since="2.6.0")
def time_(client: Client, argv: list[bytes]) -> list[bytes]:
    now = client.broker.clock()
    seconds = int(now)
    return [b"%d" % seconds, b"%d" % int((now - seconds) * 1_000_000)]


# ------------------------------------------------------------------ CONFIG

_config = container("config", "", group="server", since="2.0.0")


# CONFIG GET parameter [parameter ...]
@subcommand(_config, "get", -3, "admin noscript loading stale")
def config_get(client: Client, argv: list[bytes]) -> dict[bytes, bytes]:
    config = client.broker.config
    reply: dict[bytes, bytes] = {}
    for raw in argv[2:]:
        pattern = raw.lower()
        if not any(char in pattern for char in b"[*?"):
            # configGetCommand: an exact name (hidden ones too) is answered under the
            # name as given, in its letter case
            name = pattern.decode("utf-8", "replace")
            if name in config.values or name in config.names():
                reply[raw] = config.get(name).encode()
            elif pattern == b"replica-output-buffer-limit" or pattern == b"slave-output-buffer-limit":
                reply[pattern] = config.get("client-output-buffer-limit").encode()
            continue
        for name in config.names():
            if name not in HIDDEN and glob_match(pattern, name.encode()):
                reply[name.encode()] = config.get(name).encode()
    return reply


# CONFIG SET parameter value [parameter value ...]
@subcommand(_config, "set", -4, "admin noscript loading stale")
def config_set(client: Client, argv: list[bytes]) -> object:
    if len(argv) % 2:
        raise CommandError("ERR wrong number of arguments for 'config|set' command")
    pairs = [(argv[i].decode("utf-8", "replace"), argv[i + 1].decode("utf-8", "replace"))
             for i in range(2, len(argv), 2)]
    client.broker.config.set_many(pairs)
    return OK


# CONFIG RESETSTAT
@subcommand(_config, "resetstat", 2, "admin noscript loading stale")
def config_resetstat(client: Client, argv: list[bytes]) -> object:
    stats = client.broker.stats
    client.broker.memory.peak = 0  # resetServerStats: stat_peak_memory
    client.broker.cmdstats.reset()  # commandstats, errorstats, latencystats, total_error_replies
    for name in ("rejected_connections", "expired_keys", "evicted_keys", "keyspace_hits",
                 "keyspace_misses",
                 "pubsub_messages", "pubsub_deliveries", "client_output_limit_disconnections"):
        setattr(stats, name, 0)
    return OK


# CONFIG REWRITE
@subcommand(_config, "rewrite", 2, "admin noscript loading stale")
def config_rewrite(client: Client, argv: list[bytes]) -> object:
    raise CommandError("ERR The server is running without a config file")


# CONFIG HELP
@subcommand(_config, "help", 2, "loading stale")
def config_help(client: Client, argv: list[bytes]) -> list[str]:
    return ["CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>", "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>", "    Set the configuration <directive> to <value>.",
            "RESETSTAT", "    Reset statistics reported by the INFO command.",
            "REWRITE", "    Rewrite the configuration file.",
            "HELP", "    Prints this help."]


# ----------------------------------------------------------------- COMMAND

_STATIC_FLAGS = {"write", "readonly", "denyoom", "admin", "pubsub", "noscript", "blocking", "loading",
                 "stale", "skip_monitor", "skip_slowlog", "asking", "fast", "no_auth", "may_replicate",
                 "sentinel", "only_sentinel", "no_mandatory_keys", "no_async_loading", "no_multi",
                 "movablekeys", "allow_busy"}


def _flags(cmd: Command) -> list[Simple]:
    names = ["no_auth" if flag == "noauth" else flag for flag in sorted(cmd.flags)]
    return [Simple(name) for name in names if name in _STATIC_FLAGS]


def _command_entry(cmd: Command) -> list[object]:
    first, last, step = cmd.keys
    return [cmd.fullname.encode(), cmd.arity, _flags(cmd), first, last, step,
            OrderedSet(Simple("@" + name) for name in categories(cmd)), [], [],
            [_command_entry(sub) for sub in cmd.subcommands.values()]]


def _doc(cmd: Command) -> dict[bytes, object]:
    doc: dict[bytes, object] = {
        b"summary": (cmd.summary or f"{cmd.fullname.upper()} command").encode(),
        b"since": cmd.since.encode(),
        b"group": cmd.group.encode(),
    }
    if cmd.complexity:
        doc[b"complexity"] = cmd.complexity.encode()
    if cmd.subcommands:
        doc[b"subcommands"] = {sub.fullname.encode(): _doc(sub) for sub in cmd.subcommands.values()}
    return doc


def _all_commands() -> list[Command]:
    """Every command and subcommand, as COMMAND LIST names them (``config|get``)."""
    found: list[Command] = []
    for cmd in COMMANDS.values():
        found.append(cmd)
        found += cmd.subcommands.values()
    return found


def _command_list(argv: list[bytes]) -> list[bytes]:
    """COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]."""
    names = [cmd.fullname.encode() for cmd in _all_commands()]
    if len(argv) == 2:
        return names
    if len(argv) != 5 or argv[2].lower() != b"filterby":
        raise CommandError(SYNTAX)
    kind, value = argv[3].lower(), argv[4]
    if kind == b"module":
        return []  # no modules are loaded
    if kind == b"aclcat":
        category = value.lower().decode("utf-8", "replace")
        return [cmd.fullname.encode() for cmd in _all_commands() if category in _categories(cmd)]
    if kind == b"pattern":
        return [name for name in names if glob_match(value.lower(), name)]
    raise CommandError(SYNTAX)


def _categories(cmd: Command) -> list[str]:
    """A command's ACL categories as COMMAND INFO shows them (Redis's, from its JSON)."""
    found = commandinfo.entry(cmd)
    return found["acl"] if found is not None else categories(cmd)  # type: ignore[no-any-return]


def _getkeys(args: list[bytes]) -> list[bytes]:
    """COMMAND GETKEYS command arg ...: the key arguments, as the command reads them."""
    target = COMMANDS.get(args[0].lower())
    if target is None:
        raise CommandError("ERR Invalid command specified")
    if target.subcommands and len(args) > 1:
        target = target.subcommands.get(args[1].lower(), target)
    arity = target.arity
    if (arity > 0 and len(args) != arity) or len(args) < -arity:
        raise CommandError("ERR Invalid number of arguments specified for command")
    keys = keys_of(target, args)
    if not keys:
        if "no_mandatory_keys" in target.flags:
            return []
        if keys is None or target.keys == (0, 0, 0) and target.name not in MOVABLE:
            raise CommandError("ERR The command has no key arguments" if keys is not None
                               else "ERR Invalid arguments specified for command")
        raise CommandError("ERR Invalid arguments specified for command")
    return keys


def _by_fullname(name: bytes) -> Command | None:
    """A command or, as ``container|sub``, a subcommand (lookupCommandBySds)."""
    base, _, sub = name.lower().partition(b"|")
    cmd = COMMANDS.get(base)
    return cmd.subcommands.get(sub) if cmd is not None and sub else cmd


# COMMAND: every command's COMMAND INFO entry
@command("command", -1, "loading stale", group="server", since="2.8.13")
def command_(client: Client, argv: list[bytes]) -> object:
    if len(argv) > 1:
        # reached with arguments only from callers that do not resolve subcommands
        # (scripts' redis.call): the core's own dispatch runs the subcommand directly
        sub = _command.subcommands.get(argv[1].lower())
        if sub is None:
            raise CommandError(f"ERR unknown subcommand '{argv[1].decode('utf-8', 'replace')[:128]}'. "
                               "Try COMMAND HELP.")
        if (sub.arity > 0 and len(argv) != sub.arity) or len(argv) < -sub.arity:
            raise CommandError(f"ERR wrong number of arguments for '{sub.fullname}' command")
        return sub.handler(client, argv)  # type: ignore[misc]
    return [commandinfo.info(cmd, _command_entry) for cmd in COMMANDS.values()]


_command = COMMANDS[b"command"]


def _command_sub(name: str, arity: int, since: str = "7.0.0"):  # type: ignore[no-untyped-def]
    """A COMMAND subcommand: COMMAND itself runs without one, so it is a command with
    subcommands rather than a container (the core picks the subcommand when there
    are arguments: see Broker._execute_checked)."""
    return subcommand(_command, name, arity, "loading stale", since=since)


# COMMAND COUNT
@_command_sub("count", 2, since="2.8.13")
def command_count(client: Client, argv: list[bytes]) -> int:
    return len(COMMANDS)


# COMMAND INFO [command-name ...]
@_command_sub("info", -2, since="2.8.13")
def command_info(client: Client, argv: list[bytes]) -> list[object]:
    found = [_by_fullname(name) for name in argv[2:]] if len(argv) > 2 else list(COMMANDS.values())
    return [commandinfo.info(cmd, _command_entry) if cmd is not None else None for cmd in found]


# COMMAND DOCS [command-name ...]
@_command_sub("docs", -2)
def command_docs(client: Client, argv: list[bytes]) -> dict[bytes, object]:
    if len(argv) == 2:
        return {cmd.fullname.encode(): commandinfo.docs(cmd, _doc) for cmd in COMMANDS.values()}
    reply: dict[bytes, object] = {}
    for name in argv[2:]:
        cmd = _by_fullname(name)
        if cmd is not None:
            reply[cmd.fullname.encode()] = commandinfo.docs(cmd, _doc)
    return reply


# COMMAND LIST [FILTERBY MODULE module-name|ACLCAT category|PATTERN pattern]
@_command_sub("list", -2)
def command_list(client: Client, argv: list[bytes]) -> list[bytes]:
    return _command_list(argv)


def _getkeys_target(args: list[bytes]) -> Command:
    target = COMMANDS.get(args[0].lower())
    if target is None:
        raise CommandError("ERR Invalid command specified")
    if target.subcommands and len(args) > 1:
        target = target.subcommands.get(args[1].lower(), target)
    return target


# COMMAND GETKEYS command [arg ...]
@_command_sub("getkeys", -4, since="2.8.13")
def command_getkeys(client: Client, argv: list[bytes]) -> list[bytes]:
    return _getkeys(argv[2:])


# COMMAND GETKEYSANDFLAGS command [arg ...]
@_command_sub("getkeysandflags", -4)
def command_getkeysandflags(client: Client, argv: list[bytes]) -> list[list[object]]:
    keys = _getkeys(argv[2:])
    target = _getkeys_target(argv[2:])
    flags = commandinfo.key_flags(target, argv[2:], len(keys))
    if flags is None:
        flags = [["RW" if target.write else "RO", "access"]] * len(keys)
    return [[key, commandinfo.SetReply(Simple(flag) for flag in key_flags)] for key, key_flags in zip(keys, flags)]


# COMMAND HELP
@_command_sub("help", 2, since="5.0.0")
def command_help(client: Client, argv: list[bytes]) -> list[str]:
    return ["COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
            "HELP",
            "    Prints this help."]


# bare COMMAND takes the fast path; with arguments, the slow path picks the subcommand
_command.max_argc = 1


# -------------------------------------------------------------------- INFO

_DEFAULT_SECTIONS = ["server", "clients", "memory", "persistence", "stats", "replication", "cpu",
                     "modules", "cluster", "keyspace"]


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _human(value: int) -> str:
    for unit in ("B", "K", "M", "G"):
        if value < 1024 or unit == "G":
            return f"{value:.2f}{unit}" if unit != "B" else f"{value}B"
        value /= 1024  # type: ignore[assignment]
    return str(value)


def aof_info(broker: Any) -> list[tuple[str, object]]:
    """INFO persistence's aof_* fields (broker/persistence/aof.py when it is attached)."""
    aof = broker.aof
    if aof is None:
        return [("aof_enabled", 0), ("aof_rewrite_in_progress", 0), ("aof_rewrite_scheduled", 0),
                ("aof_last_rewrite_time_sec", -1), ("aof_current_rewrite_time_sec", -1),
                ("aof_last_bgrewrite_status", "ok"), ("aof_rewrites", 0),
                ("aof_rewrites_consecutive_failures", 0), ("aof_last_write_status", "ok"),
                ("aof_last_cow_size", 0), ("module_fork_in_progress", 0), ("module_fork_last_cow_size", 0)]
    return aof.info_fields()  # type: ignore[no-any-return]


def memory_info(broker: Any, rss: int) -> list[tuple[str, object]]:
    """INFO memory: used_memory is the broker's own account (``broker.memcost``),
    not the interpreter's RSS (see README, "Memory accounting")."""
    broker.refresh_memory()
    memory = broker.memory
    used = memory.used
    peak = memory.peak
    maxmemory = broker.maxmemory
    overhead = memory.startup + memory.clients
    return [
        ("used_memory", used), ("used_memory_human", _human(used)), ("used_memory_rss", rss),
        ("used_memory_rss_human", _human(rss)), ("used_memory_peak", peak),
        ("used_memory_peak_human", _human(peak)), ("used_memory_peak_perc", f"{100.0 * used / peak:.2f}%"),
        ("used_memory_overhead", overhead), ("used_memory_startup", memory.startup),
        ("used_memory_dataset", memory.dataset),
        ("used_memory_dataset_perc", f"{100.0 * memory.dataset / max(used - memory.startup, 1):.2f}%"),
        *scripting_memory_info(broker),
        ("maxmemory", maxmemory), ("maxmemory_human", _human(maxmemory)),
        ("maxmemory_policy", broker.config.get("maxmemory-policy")),
        ("mem_fragmentation_ratio", f"{rss / used:.2f}"), ("mem_fragmentation_bytes", rss - used),
        ("mem_not_counted_for_evict", 0), ("mem_clients_normal", memory.clients),
        ("mem_allocator", "pymalloc"),
        ("lazyfree_pending_objects", broker.lazyfree.pending),
    ]


def info_sections(client: Client) -> dict[str, list[tuple[str, object]]]:
    broker = client.broker
    now = broker.clock_ms()
    uptime = (now - broker.started_ms) // 1000
    stats = broker.stats
    rss = rss_bytes()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    clients = list(broker.clients.values())
    return {
        "server": [
            ("redis_version", broker.version), ("redis_git_sha1", "00000000"), ("redis_git_dirty", 0),
            ("redis_build_id", "fanout"), ("redis_mode", "standalone"),
            ("os", f"{platform.system()} {platform.release()} {platform.machine()}"),
            ("arch_bits", 64), ("monotonic_clock", "POSIX clock_gettime"), ("multiplexing_api", "epoll"),
            ("atomicvar_api", "c11-builtin"), ("gcc_version", "0.0.0"), ("process_id", os.getpid()),
            ("process_supervised", "no"), ("run_id", getattr(broker, "run_id", "0" * 40)),
            ("tcp_port", getattr(broker, "port", 0)), ("server_time_usec", now * 1000),
            ("uptime_in_seconds", uptime), ("uptime_in_days", uptime // 86400),
            ("hz", broker.config.get("hz")), ("configured_hz", broker.config.get("hz")),
            ("lru_clock", (now // 1000) & ((1 << 24) - 1)), ("executable", sys.executable),
            ("config_file", ""), ("io_threads_active", 0), ("fanout_python", platform.python_version()),
        ],
        "clients": [
            ("connected_clients", len(clients)), ("cluster_connections", 0),
            ("maxclients", broker.config.get("maxclients")),
            ("client_recent_max_input_buffer", 0), ("client_recent_max_output_buffer", 0),
            ("blocked_clients", sum(1 for c in clients if c.blocked is not None)),
            ("tracking_clients", broker.tracking.clients), ("clients_in_timeout_table", 0),
            ("pubsub_clients", sum(1 for c in clients if c.channels or c.patterns or c.shard_channels)),
            ("watching_clients", sum(1 for c in clients if c.watched)),
        ],
        "memory": memory_info(broker, rss),
        "persistence": [*broker.persistence.info(), *aof_info(broker)],
        "stats": [
            ("total_connections_received", stats.connections),
            ("total_commands_processed", broker.cmdstats.total_calls()),
            ("total_net_input_bytes", stats.net_input_bytes),
            ("total_net_output_bytes", stats.net_output_bytes),
            ("rejected_connections", stats.rejected_connections),
            ("expired_keys", stats.expired_keys), ("evicted_keys", stats.evicted_keys),
            ("keyspace_hits", stats.keyspace_hits), ("keyspace_misses", stats.keyspace_misses),
            ("pubsub_channels", len(broker.pubsub.channels)),
            ("pubsub_patterns", len(broker.pubsub.patterns)),
            ("pubsubshard_channels", len(broker.pubsub.shard_channels)),
            ("migrate_cached_sockets", 0),  # no MIGRATE: never a cached connection
            ("pubsub_messages", stats.pubsub_messages),
            ("pubsub_deliveries", stats.pubsub_deliveries),
            # fanout's own (after Redis's): every message a client published (PUBLISH,
            # SPUBLISH, scripts, the gateway), not notifications; how a gateway worker
            # reports the embedded broker's "messages in" (gateway.ops).
            ("fanout_client_publishes", stats.client_publishes),
            ("client_output_buffer_limit_disconnections", stats.client_output_limit_disconnections),
            ("acl_access_denied_auth", stats.acl_access_denied_auth),
            ("acl_access_denied_cmd", stats.acl_access_denied_cmd),
            ("acl_access_denied_key", stats.acl_access_denied_key),
            ("acl_access_denied_channel", stats.acl_access_denied_channel),
            *broker.tracking.info(),
            ("unexpected_error_replies", 0), ("total_error_replies", broker.cmdstats.error_replies),
        ],
        "replication": [
            ("role", "master"), ("connected_slaves", 0), ("master_failover_state", "no-failover"),
            ("master_replid", getattr(broker, "run_id", "0" * 40)), ("master_replid2", "0" * 40),
            ("master_repl_offset", 0), ("second_repl_offset", -1), ("repl_backlog_active", 0),
            ("repl_backlog_size", 1048576), ("repl_backlog_first_byte_offset", 0), ("repl_backlog_histlen", 0),
        ],
        "cpu": [
            ("used_cpu_sys", f"{usage.ru_stime:.6f}"), ("used_cpu_user", f"{usage.ru_utime:.6f}"),
            ("used_cpu_sys_children", f"{children.ru_stime:.6f}"),
            ("used_cpu_user_children", f"{children.ru_utime:.6f}"),
            ("used_cpu_sys_main_thread", f"{usage.ru_stime:.6f}"),
            ("used_cpu_user_main_thread", f"{usage.ru_utime:.6f}"),
        ],
        "modules": [],
        # worked out only when asked for (not in the default sections): see info()
        "commandstats": broker.cmdstats.commandstats,  # type: ignore[dict-item]
        "errorstats": broker.cmdstats.errorstats,  # type: ignore[dict-item]
        "latencystats": broker.cmdstats.latencystats,  # type: ignore[dict-item]
        # one node, no cluster: what redis-py's and other clients' set-up code reads
        "cluster": [("cluster_enabled", 0)],
        "keyspace": [
            (f"db{db.index}", f"keys={len(db)},expires={len(db.expires)},avg_ttl=0")
            for db in broker.dbs if len(db)
        ],
    }


# INFO [section [section ...]]
@command("info", -1, "loading stale sentinel", group="server")
def info(client: Client, argv: list[bytes]) -> object:
    sections = info_sections(client)
    wanted = [arg.decode("utf-8", "replace").lower() for arg in argv[1:]] or ["default"]
    names: list[str] = []
    for name in wanted:
        if name in ("all", "everything"):
            names += list(sections)
        elif name == "default":
            names += _DEFAULT_SECTIONS
        elif name in sections:
            names.append(name)
    lines: list[str] = []
    for name in dict.fromkeys(names):
        if lines:
            lines.append("")
        lines.append("# " + name.capitalize())
        fields = sections[name]
        lines += [f"{field}:{value}" for field, value in (fields() if callable(fields) else fields)]
    return Verbatim("\r\n".join(lines) + ("\r\n" if lines else ""))
