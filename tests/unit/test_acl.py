"""broker/acl.py: rules, descriptions and permission checks, without sockets; and the
core's use of them (refusals, the default user's fast path, requirepass)."""

from __future__ import annotations

import pytest

from broker.acl import DENIED_CHANNEL, DENIED_CMD, DENIED_KEY, OK, Acl, AclError, CommandIndex, User, \
    hash_password, merge_selectors
from broker.aclkeys import command_keys
from broker.commands import load
from broker.core import Broker
from broker.resp import OK as OK_REPLY
from tests.support.core import FakeClient, error, run


@pytest.fixture(scope="module")
def index() -> CommandIndex:
    return CommandIndex(load().values())


def user(index: CommandIndex, *rules: str) -> User:
    made = User(b"u", index, False)
    for rule in rules:
        made.apply(rule.encode(), False)
    return made


def check(made: User, *argv: str) -> tuple[int, int]:
    args = [arg.encode() for arg in argv]
    cmd = load()[args[0].lower()]
    if cmd.handler is None:
        cmd = cmd.subcommands[args[1].lower()]
    return made.check(cmd, args)


# ------------------------------------------------------------------ rules

def test_a_new_user_is_off_and_may_do_nothing(index: CommandIndex) -> None:
    made = user(index)
    assert made.describe() == "off resetchannels -@all"
    assert check(made, "GET", "k") == (DENIED_CMD, 0)
    assert not made.unrestricted


def test_passwords_are_kept_as_sha256_and_removed_by_either_form(index: CommandIndex) -> None:
    made = user(index, "on", ">secret", ">secret", "#" + "a" * 64)
    assert made.passwords == [hash_password(b"secret"), "a" * 64]
    assert made.check_password(b"secret") and not made.check_password(b"other")
    made.apply(b"<secret", False)
    made.apply(b"!" + b"a" * 64, False)
    assert made.passwords == []
    with pytest.raises(AclError) as refused:
        made.apply(b"<secret", False)
    assert refused.value.reason == "ENODEV"
    with pytest.raises(AclError):
        made.apply(b"#ABC", False)
    made.apply(b"nopass", False)
    assert made.check_password(b"anything")
    made.apply(b"off", False)
    assert not made.check_password(b"anything")


@pytest.mark.parametrize("rule,reason", [
    ("+nosuch", "ENOENT"), ("+@nosuch", "ENOENT"), ("bogus", "EINVAL"), ("%X~k", "EINVAL"),
    ("+config|get|x", "ECHILD"), ("+select|", "EINVAL"), ("+config|nosuch", "ENOENT"),
])
def test_bad_rules_name_redis_errno(index: CommandIndex, rule: str, reason: str) -> None:
    with pytest.raises(AclError) as refused:
        user(index, rule)
    assert refused.value.reason == reason


def test_patterns_after_a_star_are_refused(index: CommandIndex) -> None:
    with pytest.raises(AclError) as keys:
        user(index, "allkeys", "~k")
    with pytest.raises(AclError) as channels:
        user(index, "allchannels", "&c")
    assert (keys.value.reason, channels.value.reason) == ("EEXIST", "EISDIR")


def test_descriptions_start_from_all_or_nothing_and_fit_categories(index: CommandIndex) -> None:
    assert user(index, "+@all", "-get").root.describe_commands() == "+@all -get"
    assert user(index, "+@hash", "+get").root.describe_commands() == "-@all +@hash +get"
    assert user(index, "+@all", "-@string").root.describe_commands() == "+@all -@string"
    # a container allowed whole, one of its subcommands taken back
    assert user(index, "+config", "-config|set").root.describe_commands() == "-@all +config -config|set"
    assert user(index, "+select|0").root.describe_commands() == "-@all +select|0"


def test_key_patterns_merge_permissions_and_describe(index: CommandIndex) -> None:
    made = user(index, "%R~k*", "%W~k*", "%W~w*", "~x")
    assert made.root.keys_description() == "~k* %W~w* ~x"


def test_selectors_merge_across_arguments() -> None:
    assert merge_selectors([b"on", b"(+get", b"~k*)", b"off"]) == ([b"on", b"(+get ~k*)", b"off"], -1)
    assert merge_selectors([b"(+get", b"~k"]) == (None, 0)


# ----------------------------------------------------------------- checks

def test_read_and_write_patterns_follow_key_specs(index: CommandIndex) -> None:
    made = user(index, "+@all", "%R~r*", "%W~w*")
    assert check(made, "GET", "r1") == (OK, 0)
    assert check(made, "SET", "r1", "v") == (DENIED_KEY, 1)
    assert check(made, "SET", "w1", "v") == (OK, 0)
    assert check(made, "SET", "w1", "v", "GET") == (DENIED_KEY, 1)  # GET reads the old value
    assert check(made, "COPY", "r1", "w1") == (OK, 0)
    assert check(made, "COPY", "w1", "r1") == (DENIED_KEY, 1)
    assert check(made, "SORT", "r1", "STORE", "w1") == (OK, 0)
    assert check(made, "SORT", "r1", "STORE", "r2") == (DENIED_KEY, 3)


def test_keys_are_found_as_redis_finds_them() -> None:
    table = load()
    assert command_keys(table[b"mset"], [b"mset", b"a", b"1", b"b", b"2"]) == [(1, 8), (3, 8)]
    assert [p for p, _ in command_keys(table[b"eval"], [b"eval", b"s", b"2", b"x", b"y", b"z"])] == [3, 4]
    assert command_keys(table[b"eval"], [b"eval", b"s", b"-1"]) == []
    assert [p for p, _ in command_keys(table[b"xread"], [b"xread", b"count", b"1", b"streams", b"a", b"b",
                                                          b"0", b"0"])] == [4, 5]


def test_channels_are_globbed_but_patterns_compared_literally(index: CommandIndex) -> None:
    made = user(index, "+@all", "&news.*")
    assert check(made, "PUBLISH", "news.1", "m") == (OK, 0)
    assert check(made, "SUBSCRIBE", "news.1", "sport") == (DENIED_CHANNEL, 2)
    assert check(made, "PSUBSCRIBE", "news.*") == (OK, 0)
    assert check(made, "PSUBSCRIBE", "news.1*") == (DENIED_CHANNEL, 1)
    assert check(made, "UNSUBSCRIBE", "anything") == (OK, 0)


def test_any_selector_may_allow_and_the_most_relevant_refusal_wins(index: CommandIndex) -> None:
    made = user(index, "+get", "~a*", "(+set ~b*)")
    assert check(made, "GET", "a1") == (OK, 0)
    assert check(made, "SET", "b1", "v") == (OK, 0)
    assert check(made, "SET", "a1", "v") == (DENIED_KEY, 1)  # a key refusal over the root's command one
    assert check(made, "DEL", "a1") == (DENIED_CMD, 0)


def test_first_arguments_allow_one_form_of_a_command(index: CommandIndex) -> None:
    made = user(index, "allkeys", "+select|0")
    assert check(made, "SELECT", "0") == (OK, 0)
    assert check(made, "SELECT", "1") == (DENIED_CMD, 0)


# ------------------------------------------------------------- the core

def test_the_default_user_takes_the_fast_path_until_restricted() -> None:
    broker = Broker()
    client = FakeClient(broker)
    assert not client.special and broker.acl.default.unrestricted
    assert run(broker, client, "ACL", "SETUSER", "default", "-flushall") is OK_REPLY
    assert client.special
    assert error(run(broker, client, "FLUSHALL")) == "NOPERM this user has no permissions to run the 'flushall' command"
    run(broker, client, "ACL", "SETUSER", "default", "+flushall")
    assert not client.special
    assert broker.stats.acl_access_denied_cmd == 1


def test_requirepass_is_the_default_users_password() -> None:
    broker = Broker(config={"requirepass": "pw"})
    client = FakeClient(broker)
    assert not client.authenticated
    assert error(run(broker, client, "GET", "k")) == "NOAUTH Authentication required."
    assert error(run(broker, client, "AUTH", "nope")).startswith("WRONGPASS")
    assert run(broker, client, "AUTH", "pw") is OK_REPLY
    assert broker.acl.default.passwords == [hash_password(b"pw")]
    run(broker, client, "CONFIG", "SET", "requirepass", "")
    assert broker.acl.default.nopass and broker.acl.default.passwords == []
    entry = broker.acl.log[0]
    assert (entry.reason, entry.object, entry.username) == (3, b"AUTH", b"default")


def test_log_groups_a_repeated_denial() -> None:
    acl = Acl(CommandIndex(load().values()))
    for _ in range(2):
        acl.log_denied(DENIED_KEY, "toplevel", b"k", b"u", 1000, "id=1")
    acl.log_denied(DENIED_KEY, "toplevel", b"k", b"u", 70000, "id=2")  # past the 60 s window
    assert [entry.count for entry in acl.log] == [1, 2]
