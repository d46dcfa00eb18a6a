"""Every CONFIG parameter of redis-server 7.0.15 with its type, default and range.

Generated from the table of parameters in Redis 7.0.15 (``config.c`` ``static_configs``)
and the values a freshly started redis-server 7.0.15 reports for them (``CONFIG GET *``),
so CONFIG GET/SET accept, validate and render every name Redis does. ``broker.config``
gives the parameters this broker acts on their own checks; the rest are kept and
returned as Redis would (an encoding threshold changes what OBJECT ENCODING may say,
nothing else).
"""

from __future__ import annotations

import re

__all__ = ["BY_NAME", "HIDDEN", "PARAMETERS", "Parameter", "check_and_render"]

# (name, kind, default, low, high, choices, alias, immutable, protected)
# kind: bool | enum | string | special | int | memory (units accepted, rendered in
# bytes) | uint | umemory (unsigned: ranges printed unsigned)
Parameter = tuple[str, str, str, "int | None", "int | None", "tuple[str, ...] | None", "str | None", bool, bool]

PARAMETERS: tuple[Parameter, ...] = (
    ('rdbchecksum', 'bool', 'yes', None, None, None, None, True, False),
    ('daemonize', 'bool', 'no', None, None, None, None, True, False),
    ('io-threads-do-reads', 'bool', 'no', None, None, None, None, True, False),
    ('always-show-logo', 'bool', 'no', None, None, None, None, True, False),
    ('protected-mode', 'bool', 'yes', None, None, None, None, False, False),
    ('rdbcompression', 'bool', 'yes', None, None, None, None, False, False),
    ('rdb-del-sync-files', 'bool', 'no', None, None, None, None, False, False),
    ('activerehashing', 'bool', 'yes', None, None, None, None, False, False),
    ('stop-writes-on-bgsave-error', 'bool', 'yes', None, None, None, None, False, False),
    ('set-proc-title', 'bool', 'yes', None, None, None, None, True, False),
    ('dynamic-hz', 'bool', 'yes', None, None, None, None, False, False),
    ('lazyfree-lazy-eviction', 'bool', 'no', None, None, None, None, False, False),
    ('lazyfree-lazy-expire', 'bool', 'no', None, None, None, None, False, False),
    ('lazyfree-lazy-server-del', 'bool', 'no', None, None, None, None, False, False),
    ('lazyfree-lazy-user-del', 'bool', 'no', None, None, None, None, False, False),
    ('lazyfree-lazy-user-flush', 'bool', 'no', None, None, None, None, False, False),
    ('repl-disable-tcp-nodelay', 'bool', 'no', None, None, None, None, False, False),
    ('repl-diskless-sync', 'bool', 'yes', None, None, None, None, False, False),
    ('aof-rewrite-incremental-fsync', 'bool', 'yes', None, None, None, None, False, False),
    ('no-appendfsync-on-rewrite', 'bool', 'no', None, None, None, None, False, False),
    ('cluster-require-full-coverage', 'bool', 'yes', None, None, None, None, False, False),
    ('rdb-save-incremental-fsync', 'bool', 'yes', None, None, None, None, False, False),
    ('aof-load-truncated', 'bool', 'yes', None, None, None, None, False, False),
    ('aof-use-rdb-preamble', 'bool', 'yes', None, None, None, None, False, False),
    ('aof-timestamp-enabled', 'bool', 'no', None, None, None, None, False, False),
    ('cluster-replica-no-failover', 'bool', 'no', None, None, None, 'cluster-slave-no-failover', False, False),
    ('replica-lazy-flush', 'bool', 'no', None, None, None, 'slave-lazy-flush', False, False),
    ('replica-serve-stale-data', 'bool', 'yes', None, None, None, 'slave-serve-stale-data', False, False),
    ('replica-read-only', 'bool', 'yes', None, None, None, 'slave-read-only', False, False),
    ('replica-ignore-maxmemory', 'bool', 'yes', None, None, None, 'slave-ignore-maxmemory', False, False),
    ('jemalloc-bg-thread', 'bool', 'yes', None, None, None, None, False, False),
    ('activedefrag', 'bool', 'no', None, None, None, None, False, False),
    ('syslog-enabled', 'bool', 'no', None, None, None, None, True, False),
    ('cluster-enabled', 'bool', 'no', None, None, None, None, True, False),
    ('appendonly', 'bool', 'no', None, None, None, None, False, False),
    ('cluster-allow-reads-when-down', 'bool', 'no', None, None, None, None, False, False),
    ('cluster-allow-pubsubshard-when-down', 'bool', 'yes', None, None, None, None, False, False),
    ('crash-log-enabled', 'bool', 'yes', None, None, None, None, False, False),
    ('crash-memcheck-enabled', 'bool', 'yes', None, None, None, None, False, False),
    ('disable-thp', 'bool', 'yes', None, None, None, None, True, False),
    ('cluster-allow-replica-migration', 'bool', 'yes', None, None, None, None, False, False),
    ('replica-announced', 'bool', 'yes', None, None, None, None, False, False),
    ('latency-tracking', 'bool', 'yes', None, None, None, None, False, False),
    ('aof-disable-auto-gc', 'bool', 'no', None, None, None, None, False, False),
    ('replica-ignore-disk-write-errors', 'bool', 'no', None, None, None, None, False, False),
    ('aclfile', 'string', '', None, None, None, None, True, False),
    ('unixsocket', 'string', '', None, None, None, None, True, False),
    ('pidfile', 'string', '', None, None, None, None, True, False),
    ('replica-announce-ip', 'string', '', None, None, None, 'slave-announce-ip', False, False),
    ('masteruser', 'string', '', None, None, None, None, False, False),
    ('cluster-announce-ip', 'string', '', None, None, None, None, False, False),
    ('cluster-config-file', 'string', 'nodes.conf', None, None, None, None, True, False),
    ('cluster-announce-hostname', 'string', '', None, None, None, None, False, False),
    ('syslog-ident', 'string', 'redis', None, None, None, None, True, False),
    ('dbfilename', 'string', 'dump.rdb', None, None, None, None, False, True),
    ('appendfilename', 'string', 'appendonly.aof', None, None, None, None, True, False),
    ('appenddirname', 'string', 'appendonlydir', None, None, None, None, True, False),
    ('server_cpulist', 'string', '', None, None, None, None, True, False),
    ('bio_cpulist', 'string', '', None, None, None, None, True, False),
    ('aof_rewrite_cpulist', 'string', '', None, None, None, None, True, False),
    ('bgsave_cpulist', 'string', '', None, None, None, None, True, False),
    ('ignore-warnings', 'string', '', None, None, None, None, False, False),
    ('proc-title-template', 'string', '{title} {listen-addr} {server-mode}', None, None, None, None, False, False),
    ('bind-source-addr', 'string', '', None, None, None, None, False, False),
    ('logfile', 'string', '', None, None, None, None, True, False),
    ('masterauth', 'string', '', None, None, None, None, False, False),
    ('requirepass', 'string', '', None, None, None, None, False, False),
    ('supervised', 'enum', 'no', None, None, ('upstart', 'systemd', 'auto', 'no'), None, True, False),
    ('syslog-facility', 'enum', 'local0', None, None, ('user', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7'), None, True, False),
    ('repl-diskless-load', 'enum', 'disabled', None, None, ('disabled', 'on-empty-db', 'swapdb'), None, False, False),
    ('loglevel', 'enum', 'notice', None, None, ('debug', 'verbose', 'notice', 'warning'), None, False, False),
    ('maxmemory-policy', 'enum', 'noeviction', None, None, ('volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl', 'allkeys-lru', 'allkeys-lfu', 'allkeys-random', 'noeviction'), None, False, False),
    ('appendfsync', 'enum', 'everysec', None, None, ('everysec', 'always', 'no'), None, False, False),
    ('oom-score-adj', 'enum', 'no', None, None, ('no', 'yes', 'relative', 'absolute'), None, False, False),
    ('acl-pubsub-default', 'enum', 'resetchannels', None, None, ('allchannels', 'resetchannels'), None, False, False),
    ('sanitize-dump-payload', 'enum', 'no', None, None, ('no', 'yes', 'clients'), None, False, False),
    ('enable-protected-configs', 'enum', 'no', None, None, ('no', 'yes', 'local'), None, True, False),
    ('enable-debug-command', 'enum', 'no', None, None, ('no', 'yes', 'local'), None, True, False),
    ('enable-module-command', 'enum', 'no', None, None, ('no', 'yes', 'local'), None, True, False),
    ('cluster-preferred-endpoint-type', 'enum', 'ip', None, None, ('ip', 'hostname', 'unknown-endpoint'), None, False, False),
    ('propagation-error-behavior', 'enum', 'ignore', None, None, ('ignore', 'panic', 'panic-on-replicas'), None, False, False),
    ('shutdown-on-sigint', 'enum', 'default', None, None, ('default', 'save', 'nosave', 'now', 'force'), None, False, False),
    ('shutdown-on-sigterm', 'enum', 'default', None, None, ('default', 'save', 'nosave', 'now', 'force'), None, False, False),
    ('databases', 'int', '16', 1, 2147483647, None, None, True, False),
    ('port', 'int', '6379', 0, 65535, None, None, False, False),
    ('io-threads', 'int', '1', 1, 128, None, None, True, False),
    ('auto-aof-rewrite-percentage', 'int', '100', 0, 2147483647, None, None, False, False),
    ('cluster-replica-validity-factor', 'int', '10', 0, 2147483647, None, 'cluster-slave-validity-factor', False, False),
    ('list-max-listpack-size', 'int', '-2', -2147483648, 2147483647, None, 'list-max-ziplist-size', False, False),
    ('tcp-keepalive', 'int', '300', 0, 2147483647, None, None, False, False),
    ('cluster-migration-barrier', 'int', '1', 0, 2147483647, None, None, False, False),
    ('active-defrag-cycle-min', 'int', '1', 1, 99, None, None, False, False),
    ('active-defrag-cycle-max', 'int', '25', 1, 99, None, None, False, False),
    ('active-defrag-threshold-lower', 'int', '10', 0, 1000, None, None, False, False),
    ('active-defrag-threshold-upper', 'int', '100', 0, 1000, None, None, False, False),
    ('lfu-log-factor', 'int', '10', 0, 2147483647, None, None, False, False),
    ('lfu-decay-time', 'int', '1', 0, 2147483647, None, None, False, False),
    ('replica-priority', 'int', '100', 0, 2147483647, None, 'slave-priority', False, False),
    ('repl-diskless-sync-delay', 'int', '5', 0, 2147483647, None, None, False, False),
    ('maxmemory-samples', 'int', '5', 1, 2147483647, None, None, False, False),
    ('maxmemory-eviction-tenacity', 'int', '10', 0, 100, None, None, False, False),
    ('timeout', 'int', '0', 0, 2147483647, None, None, False, False),
    ('replica-announce-port', 'int', '0', 0, 65535, None, 'slave-announce-port', False, False),
    ('tcp-backlog', 'int', '511', 0, 2147483647, None, None, True, False),
    ('cluster-port', 'int', '0', 0, 65535, None, None, True, False),
    ('cluster-announce-bus-port', 'int', '0', 0, 65535, None, None, False, False),
    ('cluster-announce-port', 'int', '0', 0, 65535, None, None, False, False),
    ('cluster-announce-tls-port', 'int', '0', 0, 65535, None, None, False, False),
    ('repl-timeout', 'int', '60', 1, 2147483647, None, None, False, False),
    ('repl-ping-replica-period', 'int', '10', 1, 2147483647, None, 'repl-ping-slave-period', False, False),
    ('list-compress-depth', 'int', '0', 0, 2147483647, None, None, False, False),
    ('active-expire-effort', 'int', '1', 1, 10, None, None, False, False),
    ('hz', 'int', '10', 0, 2147483647, None, None, False, False),
    ('min-replicas-to-write', 'int', '0', 0, 2147483647, None, 'min-slaves-to-write', False, False),
    ('min-replicas-max-lag', 'int', '10', 0, 2147483647, None, 'min-slaves-max-lag', False, False),
    ('shutdown-timeout', 'int', '10', 0, 2147483647, None, None, False, False),
    ('repl-diskless-sync-max-replicas', 'int', '0', 0, 2147483647, None, None, False, False),
    ('maxclients', 'uint', '10000', 1, 4294967295, None, None, False, False),
    ('unixsocketperm', 'uint', '0', 0, 511, None, None, True, False),
    ('socket-mark-id', 'uint', '0', 0, 4294967295, None, None, True, False),
    ('active-defrag-max-scan-fields', 'int', '1000', 1, 9223372036854775807, None, None, False, False),
    ('slowlog-max-len', 'int', '128', 0, 9223372036854775807, None, None, False, False),
    ('acllog-max-len', 'int', '128', 0, 9223372036854775807, None, None, False, False),
    ('busy-reply-threshold', 'int', '5000', 0, 9223372036854775807, None, 'lua-time-limit', False, False),
    ('cluster-node-timeout', 'int', '15000', 0, 9223372036854775807, None, None, False, False),
    ('slowlog-log-slower-than', 'int', '10000', -1, 9223372036854775807, None, None, False, False),
    ('latency-monitor-threshold', 'int', '0', 0, 9223372036854775807, None, None, False, False),
    ('proto-max-bulk-len', 'memory', '536870912', 1048576, 9223372036854775807, None, None, False, False),
    ('stream-node-max-entries', 'int', '100', 0, 9223372036854775807, None, None, False, False),
    ('repl-backlog-size', 'memory', '1048576', 1, 9223372036854775807, None, None, False, False),
    ('maxmemory', 'umemory', '0', 0, 18446744073709551615, None, None, False, False),
    ('cluster-link-sendbuf-limit', 'umemory', '0', 0, 18446744073709551615, None, None, False, False),
    ('hash-max-listpack-entries', 'uint', '512', 0, 9223372036854775807, None, 'hash-max-ziplist-entries', False, False),
    ('set-max-intset-entries', 'uint', '512', 0, 9223372036854775807, None, None, False, False),
    ('zset-max-listpack-entries', 'uint', '128', 0, 9223372036854775807, None, 'zset-max-ziplist-entries', False, False),
    ('active-defrag-ignore-bytes', 'umemory', '104857600', 1, 9223372036854775807, None, None, False, False),
    ('hash-max-listpack-value', 'umemory', '64', 0, 9223372036854775807, None, 'hash-max-ziplist-value', False, False),
    ('stream-node-max-bytes', 'umemory', '4096', 0, 9223372036854775807, None, None, False, False),
    ('zset-max-listpack-value', 'umemory', '64', 0, 9223372036854775807, None, 'zset-max-ziplist-value', False, False),
    ('hll-sparse-max-bytes', 'umemory', '3000', 0, 9223372036854775807, None, None, False, False),
    ('tracking-table-max-keys', 'uint', '1000000', 0, 9223372036854775807, None, None, False, False),
    ('client-query-buffer-limit', 'umemory', '1073741824', 1048576, 9223372036854775807, None, None, False, False),
    ('maxmemory-clients', 'percent', '0', -100, 9223372036854775807, None, None, False, False),
    ('repl-backlog-ttl', 'int', '3600', 0, 9223372036854775807, None, None, False, False),
    ('auto-aof-rewrite-min-size', 'memory', '67108864', 0, 9223372036854775807, None, None, False, False),
    ('tls-port', 'int', '0', 0, 65535, None, None, False, False),
    ('tls-session-cache-size', 'int', '20480', 0, 2147483647, None, None, False, False),
    ('tls-session-cache-timeout', 'int', '300', 0, 2147483647, None, None, False, False),
    ('tls-cluster', 'bool', 'no', None, None, None, None, False, False),
    ('tls-replication', 'bool', 'no', None, None, None, None, False, False),
    ('tls-auth-clients', 'enum', 'yes', None, None, ('no', 'yes', 'optional'), None, False, False),
    ('tls-prefer-server-ciphers', 'bool', 'no', None, None, None, None, False, False),
    ('tls-session-caching', 'bool', 'yes', None, None, None, None, False, False),
    ('tls-cert-file', 'string', '', None, None, None, None, False, False),
    ('tls-key-file', 'string', '', None, None, None, None, False, False),
    ('tls-key-file-pass', 'string', '', None, None, None, None, False, False),
    ('tls-client-cert-file', 'string', '', None, None, None, None, False, False),
    ('tls-client-key-file', 'string', '', None, None, None, None, False, False),
    ('tls-client-key-file-pass', 'string', '', None, None, None, None, False, False),
    ('tls-dh-params-file', 'string', '', None, None, None, None, False, False),
    ('tls-ca-cert-file', 'string', '', None, None, None, None, False, False),
    ('tls-ca-cert-dir', 'string', '', None, None, None, None, False, False),
    ('tls-protocols', 'string', '', None, None, None, None, False, False),
    ('tls-ciphers', 'string', '', None, None, None, None, False, False),
    ('tls-ciphersuites', 'string', '', None, None, None, None, False, False),
    ('dir', 'special', '', None, None, None, None, False, True),
    ('save', 'special', '3600 1 300 100 60 10000', None, None, None, None, False, False),
    ('client-output-buffer-limit', 'special', 'normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60', None, None, None, None, False, False),
    ('oom-score-adj-values', 'special', '0 200 800', None, None, None, None, False, False),
    ('notify-keyspace-events', 'special', '', None, None, None, None, False, False),
    ('bind', 'special', '* -::*', None, None, None, None, False, False),
    ('replicaof', 'special', '', None, None, None, 'slaveof', True, False),
    ('latency-tracking-info-percentiles', 'special', '50 99 99.9', None, None, None, None, False, False),
)

# HIDDEN_CONFIG parameters (debugging knobs of Redis's own tests): CONFIG GET returns
# them when named exactly, never for a pattern; accepted and kept, nothing else.
_HIDDEN_PARAMETERS: tuple[Parameter, ...] = (
    ('use-exit-on-panic', 'bool', 'no', None, None, None, None, False, False),
    ('rdb-key-save-delay', 'int', '0', -2147483648, 2147483647, None, None, False, False),
    ('key-load-delay', 'int', '0', -2147483648, 2147483647, None, None, False, False),
    ('watchdog-period', 'int', '0', 0, 2147483647, None, None, False, False),
    ('loading-process-events-interval-bytes', 'int', '2097152', 1024, 2147483647, None, None, False, False),
)
HIDDEN = frozenset(parameter[0] for parameter in _HIDDEN_PARAMETERS)
PARAMETERS += _HIDDEN_PARAMETERS


# ------------------------------------------------------------ checks and rendering

_U64 = (1 << 64) - 1
_I64_MAX = (1 << 63) - 1
_UNITS = {"b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}


def _memtoull(text: str) -> int | None:
    """``memtoull``: digits and an optional unit, case-insensitive."""
    lowered = text.lower()
    for unit in ("kb", "mb", "gb", "k", "m", "g", "b"):
        if lowered.endswith(unit):
            digits, factor = lowered[:-len(unit)], _UNITS[unit]
            break
    else:
        digits, factor = lowered, 1
    if not digits.isdigit() or not digits.isascii() or len(digits) >= 128:
        return None
    # strtoull saturates at 2^64 - 1 (Redis checks only EINVAL), and the unit's
    # multiplication wraps around in 64 bits
    return (min(int(digits), _U64) * factor) & _U64


def _string2ll(text: str) -> int | None:
    if not re.fullmatch(r"-?(0|[1-9][0-9]*)", text):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


def check_and_render(parameter: Parameter, value: str) -> tuple[str | None, str]:
    """Validate ``value`` for ``parameter`` as ``CONFIG SET`` does; returns (error, the
    value as CONFIG GET will show it). Special parameters are taken as they are."""
    name, kind, _, low, high, choices = parameter[:6]
    if kind == "bool":
        lowered = value.lower()
        if lowered not in ("yes", "no"):
            return "argument must be 'yes' or 'no'", value
        return None, lowered
    if kind == "enum":
        assert choices is not None
        lowered = value.lower()
        if lowered not in choices:
            return "argument(s) must be one of the following: " + ", ".join(choices), value
        return None, lowered
    if kind in ("string", "special"):
        return None, value
    number: int | None
    if kind in ("memory", "umemory"):
        number = _memtoull(value)
        if number is None:
            return "argument must be a memory value", value
    elif kind == "percent":
        # a percentage is kept as a negative number, as Redis keeps it
        number = _memtoull(value)
        if number is None and len(value) > 1 and value.endswith("%"):
            percent = _string2ll(value[:-1])
            if percent is not None and percent >= 0:
                number = -percent
        if number is None:
            return "argument must be a memory or percent value", value
        if number > _I64_MAX:
            number -= 1 << 64
        if number < 0:
            assert low is not None
            if number < low:
                return f"percentage argument must be less or equal to {-low}", value
            return None, f"{-number}%"
    else:
        number = _string2ll(value)
        if number is None:
            return "argument couldn't be parsed into an integer", value
    if kind in ("uint", "umemory"):
        number &= _U64  # the value is read as signed, then compared unsigned
    elif number > _I64_MAX:
        number -= 1 << 64  # memtoull's unsigned result stored in a long long
    assert low is not None and high is not None
    if not low <= number <= high:
        return f"argument must be between {low} and {high} inclusive", value
    return None, str(number)


BY_NAME: dict[str, Parameter] = {}
for _parameter in PARAMETERS:
    BY_NAME[_parameter[0]] = _parameter
    if _parameter[6]:
        BY_NAME[_parameter[6]] = _parameter
