"""ACL against redis-server (issue 20): every ACL subcommand, rule and refusal, on
servers of this module's own (ACL state is server-wide), reset after each test."""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.support.differential import assert_same_replies
from tests.support.resp_client import RespClient, RespError, wait_until
from tests.support.servers import ServerProcess, free_port, start_fanout, start_redis_server

Command = Sequence[bytes | str | int | float]
PROTOCOLS = [2, 3]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[int, int]]:
    redis = start_redis_server()
    fanout = start_fanout("broker", "--port", str(free_port()))
    try:
        yield redis.port, fanout.port
    finally:
        redis.stop()
        fanout.stop()


# A user the clean-up logs in as, whatever a test did to the default user.
ADMIN = ("ACL", "SETUSER", "admin", "on", ">adminpw", "+@all", "~*", "&*")


@pytest.fixture(autouse=True)
def clean(servers: tuple[int, int]) -> Iterator[None]:
    for port in servers:
        with RespClient(port) as admin:
            admin.call(*ADMIN)
    yield
    for port in servers:
        with RespClient(port) as admin:
            assert admin.call("AUTH", "admin", "adminpw") == b"OK"
            for name in admin.call("ACL", "USERS"):
                if name not in (b"default", b"admin"):
                    admin.call("ACL", "DELUSER", name)
            admin.call("CONFIG", "SET", "requirepass", "")
            admin.call("ACL", "SETUSER", "default", "on", "nopass", "~*", "&*", "+@all", "clearselectors")
            admin.call("CONFIG", "SET", "acl-pubsub-default", "resetchannels")
            admin.call("ACL", "LOG", "RESET")


def same(servers: tuple[int, int], script: list[Command], protocol: int = 2) -> list[Any]:
    return assert_same_replies(servers[0], servers[1], script, protocol=protocol, normalize=_normalize)


def _normalize(command: Command, reply: Any) -> Any:
    """What differs by nature: GENPASS's random bits, ACL LOG's ages and client lines,
    and the order of single-command rules (Redis's command dict has a random seed)."""
    words = [str(word.decode() if isinstance(word, bytes) else word).lower() for word in command[:2]]
    if words == ["acl", "genpass"] and isinstance(reply, bytes):
        return len(reply)
    if words == ["acl", "log"] and isinstance(reply, list):
        return [_log_entry(entry) for entry in reply]
    if words == ["acl", "list"] and isinstance(reply, list):
        return [_rules(line) for line in reply]
    if words == ["acl", "getuser"]:
        return _getuser(reply)
    return reply


def _rules(text: Any) -> Any:
    """Single-command rules sorted within each run between category rules and selectors."""
    if not isinstance(text, bytes):
        return text
    out: list[bytes] = []
    run: list[bytes] = []
    for token in text.split(b" "):
        if token[:1] in (b"+", b"-") and token[1:2] != b"@":
            run.append(token)
            continue
        out += sorted(run) + [token]
        run = []
    return b" ".join(out + sorted(run))


def _getuser(reply: Any) -> Any:
    if isinstance(reply, dict):
        return {key: _getuser(value) if key == b"selectors" else _rules(value) if key == b"commands" else value
                for key, value in reply.items()}
    if isinstance(reply, list) and reply[:1] == [b"flags"]:
        pairs = list(reply)
        for i in range(0, len(pairs) - 1, 2):
            if pairs[i] == b"commands":
                pairs[i + 1] = _rules(pairs[i + 1])
            elif pairs[i] == b"selectors":
                pairs[i + 1] = [_getuser(selector) for selector in pairs[i + 1]]
        return pairs
    if isinstance(reply, list) and reply[:1] == [b"commands"]:
        return [_rules(item) for item in reply]
    return reply


def _log_entry(entry: Any) -> Any:
    pairs = dict(entry.items()) if isinstance(entry, dict) else dict(zip(entry[::2], entry[1::2]))
    pairs.pop(b"age-seconds", None)
    info = pairs.pop(b"client-info")
    # the fields that say who and what, not where or when
    pairs[b"client-info"] = [field for field in info.split() if field.split(b"=")[0] in (b"user", b"db", b"cmd")]
    return pairs


SETUSER_RULES = [
    ["on", ">p1", ">p2", "<p1"], ["#" + "a" * 64, "!" + "a" * 64], ["nopass"], ["resetpass", "off"],
    ["+@all", "-@dangerous"], ["-@all", "+@read", "-get"], ["allcommands", "-set", "-config|get"],
    ["nocommands", "+config|get", "+select|0", "+client|list"], ["+@all", "-@all", "+@geo", "+@hash"],
    ["~foo*", "%R~bar*", "%W~baz*", "%RW~qux", "~foo*"], ["allkeys"], ["~*", "resetkeys", "~x"],
    ["&chan*", "&other", "&chan*"], ["allchannels"], ["resetchannels", "&a"], ["reset"],
    ["on", "(+get ~k*)", "(+set", "%W~w*)"], ["(+get ~k*)", "clearselectors"],
    ["skip-sanitize-payload"], ["sanitize-payload"], ["+@string", "-@write"], ["+@all", "-@keyspace", "+del"],
    ["-@all", "+acl", "-acl|setuser"], ["+@transaction", "+@scripting", "+@hyperloglog"],
]

SETUSER_ERRORS = [
    ["+nosuchcommand"], ["-nosuchcommand"], ["+@nosuchcategory"], ["-@nosuchcategory"], ["bogus"],
    ["~*", "~foo"], ["&*", "&foo"], ["#abc"], ["!" + "b" * 64], ["<notapassword"], ["+config|get|x"],
    ["+select|"], ["+config|nosuch"], ["%X~k"], ["%R~k v"], ["(+get", "~k"], ["(nosuchrule)"],
    ["(~*", "~x)"],
]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_setuser_rules_describe_as_redis(servers: tuple[int, int], protocol: int) -> None:
    script: list[Command] = []
    for i, rules in enumerate(SETUSER_RULES):
        script += [("ACL", "SETUSER", f"u{i}", *rules), ("ACL", "GETUSER", f"u{i}")]
    same(servers, script + [("ACL", "LIST"), ("ACL", "USERS")], protocol)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_setuser_errors_change_nothing(servers: tuple[int, int], protocol: int) -> None:
    script: list[Command] = [("ACL", "SETUSER", "e", "on", ">pw", "~k")]
    for rules in SETUSER_ERRORS:
        script += [("ACL", "SETUSER", "e", *rules), ("ACL", "GETUSER", "e")]
    script += [("ACL", "SETUSER", "has space"), ("ACL", "SETUSER", "nul\x00"), ("ACL", "GETUSER", "nobody")]
    same(servers, script, protocol)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_subcommands_and_their_errors(servers: tuple[int, int], protocol: int) -> None:
    same(servers, [
        ("ACL", "WHOAMI"), ("ACL", "CAT"), ("ACL", "CAT", "nosuch"), ("ACL", "CAT", "a", "b"),
        ("ACL", "GENPASS"), ("ACL", "GENPASS", 1), ("ACL", "GENPASS", 5), ("ACL", "GENPASS", 4096),
        ("ACL", "GENPASS", 0), ("ACL", "GENPASS", 4097), ("ACL", "GENPASS", "x"), ("ACL", "GENPASS", 1, 2),
        ("ACL", "DELUSER", "default"), ("ACL", "SETUSER", "a"), ("ACL", "SETUSER", "b"),
        ("ACL", "DELUSER", "a", "nobody", "b", "a"), ("ACL", "DELUSER", "x", "default"),
        ("ACL", "DRYRUN", "nobody", "get", "k"), ("ACL", "SETUSER", "d", "+get", "~k*", "&c*"),
        ("ACL", "DRYRUN", "d", "nosuch"), ("ACL", "DRYRUN", "d", "get"), ("ACL", "DRYRUN", "d", "get", "k1"),
        ("ACL", "DRYRUN", "d", "get", "x"), ("ACL", "DRYRUN", "d", "set", "k1", "v"),
        ("ACL", "DRYRUN", "d", "publish", "c1", "m"), ("ACL", "SETUSER", "d", "+publish", "+subscribe"),
        ("ACL", "DRYRUN", "d", "publish", "c1", "m"), ("ACL", "DRYRUN", "d", "publish", "x", "m"),
        ("ACL", "DRYRUN", "d", "subscribe", "c1", "x"), ("ACL", "DRYRUN", "d", "config", "get", "x"),
        ("ACL", "DRYRUN", "d", "config", "nosuch"),
        ("ACL", "LOG", "x"), ("ACL", "LOG", -1), ("ACL", "LOG", 1, 2), ("ACL", "NOSUCH"), ("ACL",),
        ("ACL", "GETUSER"), ("ACL", "LIST", "x"), ("ACL", "HELP"), ("ACL", "SAVE"), ("ACL", "LOAD"),
    ], protocol)


def test_cat_lists_each_categorys_commands_as_redis(servers: tuple[int, int]) -> None:
    """Redis lists a category's commands in its dict's order: compared as sets, over the
    commands both servers have."""
    with RespClient(servers[0]) as redis, RespClient(servers[1]) as fanout:
        ours = set(fanout.call("COMMAND", "LIST")) & set(redis.call("COMMAND", "LIST"))
        for category in redis.call("ACL", "CAT"):
            want = {name for name in redis.call("ACL", "CAT", category) if name in ours}
            assert set(fanout.call("ACL", "CAT", category)) & ours == want, category


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_command_info_categories(servers: tuple[int, int], protocol: int) -> None:
    with RespClient(servers[0], protocol=protocol) as redis, RespClient(servers[1], protocol=protocol) as fanout:
        names = fanout.call("COMMAND", "LIST")
        for name in names:
            want, got = redis.call("COMMAND", "INFO", name), fanout.call("COMMAND", "INFO", name)
            assert got != [None], name
            if want == [None]:
                continue  # one of fanout's own commands
            assert got[0][6] == want[0][6], name


def _auth_script(user_rules: list[str], commands: list[Command]) -> list[Command]:
    return [("SET", "k1", "v"), ("SET", "other", "v"), ("ACL", "SETUSER", "u", "on", ">pw", *user_rules),
            ("AUTH", "u", "pw"), ("ACL", "WHOAMI"), *commands]


REFUSALS = [
    (["+get"], [("GET", "k1"), ("SET", "k1", "v"), ("CONFIG", "GET", "x"), ("PING",)]),
    (["+@read", "~k*"], [("GET", "k1"), ("GET", "other"), ("MGET", "k1", "other"), ("MGET", "k1", "k2")]),
    (["+@all", "%R~r*", "%W~w*", "~rw*"], [("GET", "r1"), ("SET", "r1", "v"), ("SET", "w1", "v"),
                                          ("GET", "w1"), ("COPY", "r1", "w1"), ("COPY", "w1", "r1"),
                                          ("SET", "rw1", "v", "GET"), ("SET", "w1", "v", "GET"),
                                          ("LMOVE", "r1", "w1", "LEFT", "RIGHT"), ("SORT", "r1", "STORE", "w1"),
                                          ("SORT", "r1", "STORE", "r2"), ("BITFIELD", "r1", "GET", "u8", 0),
                                          ("BITFIELD", "r1", "SET", "u8", 0, 1), ("EXISTS", "zz"),
                                          ("EVAL", "return 1", 1, "x"), ("EVAL", "return 1", 1, "rw1")]),
    (["+@all", "-@all", "+config|get", "+client", "-client|kill"],
     [("CONFIG", "GET", "maxmemory"), ("CONFIG", "SET", "maxmemory", 0), ("CLIENT", "GETNAME"),
      ("CLIENT", "KILL", "ID", 99999), ("CLIENT", "NOSUCH")]),
    (["+select|0", "+select|3"], [("SELECT", 0), ("SELECT", 3), ("SELECT", 1)]),
    (["+@all", "allkeys", "&c*"], [("PUBLISH", "c1", "m"), ("PUBLISH", "x", "m"), ("SUBSCRIBE", "c1", "x"),
                                  ("SPUBLISH", "x", "m"), ("PSUBSCRIBE", "c*"), ("PSUBSCRIBE", "c1*")]),
    (["+@all", "~k*", "(~other +get)"], [("GET", "other"), ("SET", "other", "v"), ("GET", "k1"),
                                         ("MGET", "k1", "other"), ("ACL", "WHOAMI")]),
]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("rules,commands", REFUSALS)
def test_refusals_are_worded_as_redis(servers: tuple[int, int], protocol: int, rules: list[str],
                                      commands: list[Command]) -> None:
    same(servers, _auth_script(rules, commands), protocol)
    with RespClient(servers[0]) as redis, RespClient(servers[1]) as fanout:
        assert _normalize(("ACL", "LOG"), fanout.call("ACL", "LOG")) == \
            _normalize(("ACL", "LOG"), redis.call("ACL", "LOG"))
        assert _denied_stats(fanout) == _denied_stats(redis) or _denied_stats(redis) == {}


def _denied_stats(client: RespClient) -> dict[str, int]:
    info = client.call("INFO", "stats").decode()
    return {line.split(":")[0]: int(line.split(":")[1]) for line in info.splitlines()
            if line.startswith("acl_access_denied")}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_auth_hello_and_requirepass_as_redis(servers: tuple[int, int], protocol: int) -> None:
    same(servers, [
        ("AUTH", "x"), ("AUTH", "default", "x"), ("AUTH", "nobody", "x"), ("AUTH", "a", "b", "c"),
        ("ACL", "SETUSER", "u", ">pw"), ("AUTH", "u", "pw"), ("ACL", "SETUSER", "u", "on"),
        ("AUTH", "u", "wrong"), ("AUTH", "u", "pw"), ("ACL", "WHOAMI"), ("HELLO", protocol, "AUTH", "u", "bad"),
        ("HELLO", protocol, "AUTH", "nobody", "pw"), ("ACL", "WHOAMI"), ("AUTH", "default", "anything"),
        ("ACL", "WHOAMI"), ("CONFIG", "SET", "requirepass", "secret"), ("ACL", "GETUSER", "default"),
        ("AUTH", "wrong"), ("AUTH", "secret"), ("AUTH", "default", "secret"),
        ("ACL", "SETUSER", "default", ">second"), ("AUTH", "second"), ("CONFIG", "GET", "requirepass"),
        ("CONFIG", "SET", "requirepass", ""), ("ACL", "GETUSER", "default"), ("AUTH", "x"),
        ("ACL", "SETUSER", "nopassuser", "on", "nopass", "+@all"), ("AUTH", "nopassuser", "whatever"),
        ("ACL", "WHOAMI"), ("RESET",), ("ACL", "WHOAMI"), ("ACL", "LOG"),
    ], protocol)


def test_new_connection_needs_auth_once_default_has_a_password(servers: tuple[int, int]) -> None:
    for port in servers:
        with RespClient(port) as admin:
            admin.call("ACL", "SETUSER", "u", "on", ">pw", "+@all", "~*")
            admin.call("ACL", "SETUSER", "default", "resetpass", ">dp")
            with RespClient(port) as fresh:
                assert fresh.call("GET", "k") == RespError("NOAUTH Authentication required.")
                assert fresh.call("HELLO", 3) == RespError(
                    "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO "
                    "AUTH <user> <pass> option can be used to authenticate the client and select the RESP "
                    "protocol version at the same time")
                hello = fresh.call("HELLO", 2, "AUTH", "u", "pw")
                assert hello[hello.index(b"proto") + 1] == 2
                assert fresh.call("ACL", "WHOAMI") == b"u"
            with RespClient(port) as fresh:
                admin.call("ACL", "SETUSER", "default", "nopass")
                assert fresh.call("GET", "k") is None  # authRequired is asked at each command
            admin.call("ACL", "SETUSER", "default", "off")
            with RespClient(port) as fresh:
                assert fresh.call("GET", "k") == RespError("NOAUTH Authentication required.")
                assert fresh.call("AUTH", "default", "x") == RespError(
                    "WRONGPASS invalid username-password pair or user is disabled.")
            admin.call("ACL", "SETUSER", "default", "on")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_multi_and_exec_check_acls_as_redis(servers: tuple[int, int], protocol: int) -> None:
    same(servers, _auth_script(["+@all", "-flushall", "~k*"], [
        ("MULTI",), ("GET", "k1"), ("FLUSHALL",), ("GET", "other"), ("EXEC",),
        ("MULTI",), ("GET", "k1"), ("SET", "k2", "v"), ("ACL", "SETUSER", "u", "-set"), ("EXEC",),
        ("MULTI",), ("SET", "k3", "v"), ("GET", "k3"), ("EXEC",),
    ]), protocol)
    # the queued command refused at EXEC because another client changed the user
    replies = []
    for port in servers:
        with RespClient(port, protocol=protocol) as admin, RespClient(port, protocol=protocol) as user:
            admin.call("ACL", "SETUSER", "m", "on", ">pw", "+@all", "~*")
            user.call("AUTH", "m", "pw")
            user.call("MULTI")
            user.call("SET", "a", "1")
            user.call("GET", "a")
            admin.call("ACL", "SETUSER", "m", "resetkeys", "~b")
            replies.append((user.call("EXEC"), _log_entry(admin.call("ACL", "LOG", 1)[0])))
    assert replies[1] == replies[0]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_scripts_check_acls_as_redis(servers: tuple[int, int], protocol: int) -> None:
    same(servers, _auth_script(["+@scripting", "+set", "+sort", "~x*"], [
        ("EVAL", "return redis.call('set', KEYS[1], 1)", 1, "x1"),
        ("EVAL", "return redis.call('get', KEYS[1])", 1, "x1"),
        ("EVAL", "return redis.pcall('get', KEYS[1])", 1, "x1"),
        ("EVAL", "return redis.call('set', 'y', 1)", 0),
        ("EVAL", "return redis.acl_check_cmd('set', 'xx', 1)", 0),
        ("EVAL", "return redis.acl_check_cmd('set', 'yy', 1)", 0),
        ("EVAL", "return redis.acl_check_cmd('hset', 'xx', 'f', 1)", 0),
        ("EVAL", "return redis.acl_check_cmd('nosuch', 'xx')", 0),
        ("EVAL", "return redis.acl_check_cmd('config', 'get', 'x')", 0),
        ("FUNCTION", "LOAD", "REPLACE", "#!lua name=acl\nredis.register_function('touchy', "
                                        "function(keys) return redis.call('set', keys[1], 1) end)"),
        ("FCALL", "touchy", 1, "x2"), ("FCALL", "touchy", 1, "y2"),
        ("EVAL", "return redis.pcall('sort', KEYS[1], 'by', 'w_*')", 1, "x3"),
        ("ACL", "WHOAMI"),
    ]), protocol)
    with RespClient(servers[0]) as redis, RespClient(servers[1]) as fanout:
        assert _normalize(("ACL", "LOG"), fanout.call("ACL", "LOG")) == \
            _normalize(("ACL", "LOG"), redis.call("ACL", "LOG"))


def test_log_groups_similar_denials_and_resets(servers: tuple[int, int]) -> None:
    same(servers, _auth_script(["+get", "~k*"], [
        ("SET", "k1", "v"), ("SET", "k1", "v"), ("GET", "x"), ("GET", "x"), ("GET", "y"), ("AUTH", "u", "bad"),
        ("AUTH", "nobody", "bad"), ("ACL", "LOG"),
    ]))
    with RespClient(servers[0]) as redis, RespClient(servers[1]) as fanout:
        for client in (redis, fanout):
            assert client.call("CONFIG", "SET", "acllog-max-len", 2) == b"OK"
        assert _normalize(("ACL", "LOG"), fanout.call("ACL", "LOG")) == \
            _normalize(("ACL", "LOG"), redis.call("ACL", "LOG"))
        assert _normalize(("ACL", "LOG"), fanout.call("ACL", "LOG", 1)) == \
            _normalize(("ACL", "LOG"), redis.call("ACL", "LOG", 1))
        for client in (redis, fanout):
            client.call("AUTH", "somebody", "else")  # the next entry trims to the new length
        assert len(redis.call("ACL", "LOG")) == 2
        assert _normalize(("ACL", "LOG"), fanout.call("ACL", "LOG")) == \
            _normalize(("ACL", "LOG"), redis.call("ACL", "LOG"))
        for client in (redis, fanout):
            assert client.call("ACL", "LOG", "RESET") == b"OK"
            assert client.call("ACL", "LOG") == []
            client.call("CONFIG", "SET", "acllog-max-len", 128)


def test_deluser_and_channel_revocation_kill_connections(servers: tuple[int, int]) -> None:
    for port in servers:
        with RespClient(port) as admin, RespClient(port) as doomed, RespClient(port) as subscriber, \
                RespClient(port) as keeper:
            admin.call("ACL", "SETUSER", "gone", "on", ">pw", "+@all")
            admin.call("ACL", "SETUSER", "sub", "on", ">pw", "+@all", "&news*", "&sport")
            assert doomed.call("AUTH", "gone", "pw") == b"OK"
            assert subscriber.call("AUTH", "sub", "pw") == b"OK"
            assert keeper.call("AUTH", "sub", "pw") == b"OK"
            subscriber.call("SUBSCRIBE", "news1")
            keeper.call("SUBSCRIBE", "sport")
            assert admin.call("ACL", "DELUSER", "gone") == 1
            wait_until(lambda: b"user=gone" not in admin.call("CLIENT", "LIST"), f"gone's client closed ({port})")
            # a superset of the channels keeps everyone; dropping &news* kills news1's subscriber
            admin.call("ACL", "SETUSER", "sub", "&more")
            assert admin.call("CLIENT", "LIST").count(b"user=sub") == 2
            admin.call("ACL", "SETUSER", "sub", "resetchannels", "&sport")
            wait_until(lambda: admin.call("CLIENT", "LIST").count(b"user=sub") == 1,
                       f"the news subscriber closed ({port})")
            assert admin.call("PUBSUB", "NUMSUB", "sport") == [b"sport", 1]
            assert admin.call("CLIENT", "KILL", "USER", "nobody") == RespError("ERR No such user 'nobody'")
            assert admin.call("CLIENT", "KILL", "USER", "sub") == 1


def test_acl_pubsub_default(servers: tuple[int, int]) -> None:
    same(servers, [
        ("CONFIG", "SET", "acl-pubsub-default", "allchannels"), ("ACL", "SETUSER", "a"), ("ACL", "GETUSER", "a"),
        ("ACL", "SETUSER", "a", "reset"), ("ACL", "GETUSER", "a"), ("ACL", "SETUSER", "a", "(+get)"),
        ("ACL", "GETUSER", "a"), ("CONFIG", "SET", "acl-pubsub-default", "resetchannels"),
        ("ACL", "SETUSER", "b"), ("ACL", "LIST"), ("CONFIG", "GET", "acl-pubsub-default"),
    ])


def test_acl_save_and_load_with_an_aclfile(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Both servers started with an ACL file: SAVE writes what LIST shows, LOAD reads it
    back (dropping users made since), a broken file changes nothing."""
    results = []
    for kind in ("redis", "fanout"):
        directory = tmp_path_factory.mktemp(f"acl-{kind}")
        (directory / "users.acl").write_text("user default on nopass ~* &* +@all\nuser saved on >pw ~k* +get\n")
        if kind == "redis":
            server = start_redis_server("--dir", str(directory), "--aclfile", "users.acl")
        else:
            server = start_fanout("broker", "--port", str(free_port()), "--dir", str(directory), "--aclfile",
                                  "users.acl")
        try:
            with RespClient(server.port) as admin, RespClient(server.port) as saved:
                seen: list[Any] = [admin.call("ACL", "LIST"), saved.call("AUTH", "saved", "pw"),
                                   admin.call("ACL", "SETUSER", "extra", "on", "nopass", "+@all")]
                seen.append(admin.call("ACL", "SAVE"))
                seen.append((directory / "users.acl").read_text().splitlines())
                (directory / "users.acl").write_text("user default on nopass ~* &* +@all\nuser other +bogus\n")
                seen.append(admin.call("ACL", "LOAD"))
                seen.append(admin.call("ACL", "USERS"))
                (directory / "users.acl").write_text("user default on nopass ~* &* +@all\nuser saved on >pw2\n")
                seen.append(admin.call("ACL", "LOAD"))
                seen.append(admin.call("ACL", "LIST"))
                # the connections of the users that were replaced are closed
                wait_until(lambda: b"user=saved" not in admin.call("CLIENT", "LIST"), f"{kind} closed saved's")
                results.append([_normalize(("ACL", "LIST"), item) if isinstance(item, list) else item
                                for item in seen])
        finally:
            server.stop()
    assert results[1] == results[0]
    assert results[0][5] == RespError(
        "ERR users.acl:2: Error in applying operation '+bogus': Unknown command or category name in ACL. "
        "WARNING: ACL errors detected, no change to the previously active ACL rules was performed")


# Commands whose keys sit in every way Redis's key specs describe (and the finders
# behind SET ... GET, BITFIELD, SORT), asked for a user who may read r*, write w*, both rw*.
DRYRUNS: list[Command] = [
    ("GET", "r"), ("GET", "w"), ("SET", "w", "v"), ("SET", "r", "v"), ("SET", "rw", "v", "GET"),
    ("SET", "w", "v", "GET"), ("MSET", "w1", "v", "w2", "v"), ("MSET", "w1", "v", "r2", "v"), ("MGET", "r1", "w"),
    ("RENAME", "rw1", "w"), ("RENAME", "r1", "w"), ("COPY", "r", "w"), ("LMOVE", "rw", "w", "LEFT", "LEFT"),
    ("ZUNIONSTORE", "w", 2, "r1", "r2"), ("ZUNIONSTORE", "w", 2, "r1", "w2"), ("ZUNION", 2, "r1", "r2"),
    ("LMPOP", 2, "rw1", "rw2", "LEFT"), ("LMPOP", 2, "rw1", "r2", "LEFT"), ("BLMPOP", 0, 1, "rw1", "LEFT"),
    ("XREAD", "COUNT", 1, "STREAMS", "r1", "r2", 0, 0), ("XREAD", "STREAMS", "r1", "w2", 0, 0),
    ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "rw", ">"), ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "r", ">"),
    ("XADD", "w", "*", "f", "v"), ("XINFO", "STREAM", "r"), ("XINFO", "STREAM", "w"), ("OBJECT", "ENCODING", "r"),
    ("OBJECT", "ENCODING", "w"), ("MEMORY", "USAGE", "w"), ("EXISTS", "r", "w"), ("TOUCH", "w"), ("DEL", "r"),
    ("UNLINK", "w"), ("EXPIRE", "w", 1), ("TTL", "r"), ("TYPE", "w"), ("STRLEN", "w"), ("HEXISTS", "w", "f"),
    ("SINTERCARD", 2, "r", "w"), ("SMOVE", "rw", "w", "m"), ("GEORADIUS", "r", 0, 0, 1, "m", "STORE", "w"),
    ("GEORADIUS", "r", 0, 0, 1, "m", "STOREDIST", "r2"), ("GEOSEARCHSTORE", "w", "r", "FROMLONLAT", 0, 0, "BYRADIUS",
                                                         1, "m"),
    ("EVAL", "", 1, "rw"), ("EVAL", "", 1, "r"), ("EVAL_RO", "", 1, "r"), ("EVAL", "", 0, "r"), ("FCALL", "f", 1, "w"),
    ("SORT", "r", "LIMIT", 0, 1, "STORE", "w"), ("SORT", "r", "STORE", "r", "STORE", "w"),
    ("SORT", "r", "GET", "STORE", "STORE", "w"), ("SORT_RO", "r"), ("SORT_RO", "w"),
    ("BITFIELD", "r", "GET", "u8", 0), ("BITFIELD", "r", "OVERFLOW", "SAT", "GET", "u8", 0),
    ("BITFIELD", "w", "SET", "u8", 0, 1), ("BITFIELD", "rw", "INCRBY", "u8", 0, 1), ("BITFIELD_RO", "r", "GET", "u8", 0),
    ("BITOP", "AND", "w", "r1", "r2"), ("BITOP", "AND", "r", "r1"), ("PFMERGE", "rw", "r"), ("PFCOUNT", "r", "w"),
    ("WATCH", "r", "w"), ("SUBSCRIBE", "c"), ("PUBLISH", "c", "m"), ("SSUBSCRIBE", "s1"), ("SPUBLISH", "s1", "m"),
]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_dryrun_follows_key_specs_as_redis(servers: tuple[int, int], protocol: int) -> None:
    script: list[Command] = [("ACL", "SETUSER", "ks", "+@all", "%R~r*", "%W~w*", "%RW~rw*", "&c", "&s*")]
    script += [("ACL", "DRYRUN", "ks", *command) for command in DRYRUNS]
    same(servers, script, protocol)


# Randomised: users made of random rules (flags, passwords, commands that both servers
# have, key and channel patterns, selectors), described and asked about random commands.
_WORDS = st.sampled_from(["a", "ab", "b*", "*", "a?", "[ab]*", "x"])
_PATTERNS = st.builds(lambda prefix, word: prefix + word, st.sampled_from(["~", "%R~", "%W~", "%RW~", "&"]), _WORDS)
_COMMAND_RULES = st.builds(lambda sign, name: sign + name, st.sampled_from(["+", "-"]),
                           st.sampled_from(["get", "set", "del", "lpush", "lrange", "publish", "subscribe", "hset",
                                            "config|get", "select|0", "@all", "@read",
                                            "@write", "@hash", "@list", "@pubsub"]))
_RULE = st.one_of(_PATTERNS, _COMMAND_RULES,
                  st.sampled_from(["on", "off", "nopass", "resetpass", ">pw", "<pw", "allkeys", "resetkeys",
                                   "allchannels", "resetchannels", "clearselectors", "reset"]))
_SELECTOR = st.lists(st.one_of(_PATTERNS, _COMMAND_RULES), min_size=1, max_size=4).map(
    lambda rules: "(" + " ".join(rules) + ")")
_ASKED = st.sampled_from([("get", "a"), ("get", "ab"), ("set", "b1", "v"), ("del", "a", "x"), ("lpush", "ab", "v"),
                          ("lrange", "x", 0, 1), ("publish", "ab", "m"), ("subscribe", "a", "x"), ("hset", "b", "f", "v"),
                          ("config", "get", "x"), ("client", "list"), ("select", 0), ("select", 1),
                          ("psubscribe", "b*"), ("copy", "a", "b"), ("rename", "ab", "x")])


@SETTINGS
@example(rules=["+@write", "-@hash"], asked=[("get", "a")])  # a best-fit naming FANOUT.* commands
@given(rules=st.lists(st.one_of(_RULE, _SELECTOR), max_size=8), asked=st.lists(_ASKED, min_size=1, max_size=4))
def test_random_rules_describe_and_decide_as_redis(servers: tuple[int, int], rules: list[str],
                                                   asked: list[Command]) -> None:
    script: list[Command] = [("ACL", "DELUSER", "r"), ("ACL", "SETUSER", "r", *rules)]
    script += [("ACL", "DRYRUN", "r", *command) for command in asked]
    same(servers, script)
    # the description, but for the commands only one server has (Redis's LOLWUT, DEBUG ...;
    # our FANOUT.*), which a best-fit description may name on that server alone
    with RespClient(servers[0]) as redis, RespClient(servers[1]) as fanout:
        both = set(redis.call("COMMAND", "LIST")) & set(fanout.call("COMMAND", "LIST"))
        described = [_getuser(client.call("ACL", "GETUSER", "r")) for client in (redis, fanout)]
    assert _known(described[0], both) == _known(described[1], both)


def _known(reply: Any, ours: set[bytes]) -> Any:
    if isinstance(reply, bytes) and reply[:2] in (b"-@", b"+@"):
        return b" ".join(token for token in reply.split(b" ")
                         if token[1:2] == b"@" or token[1:].split(b"|")[0] in {name.split(b"|")[0] for name in ours})
    if isinstance(reply, list):
        return [_known(item, ours) for item in reply]
    return reply
