"""Pub/sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, (S)PUBLISH, PUBSUB.

Confirmations are ``Push`` replies (``>`` frames in RESP3, arrays in RESP2), one
per channel, as Redis writes them. The count in each is the client's number of
channel + pattern subscriptions (shard channels are counted on their own).
"""

from __future__ import annotations

from broker.client import Client
from broker.glob import compile_glob
from broker.resp import Push
from broker.results import Replies
from broker.table import command, container, subcommand

__all__: list[str] = []


def _count(client: Client) -> int:
    return len(client.channels) + len(client.patterns)


# SUBSCRIBE channel [channel ...]
@command("subscribe", -2, "pubsub noscript loading stale subscribed", group="pubsub")
def subscribe(client: Client, argv: list[bytes]) -> Replies:
    replies = Replies()
    registry = client.broker.pubsub
    for channel in argv[1:]:
        if channel not in client.channels:
            client.channels[channel] = None
            registry.subscribe(client, channel)
        replies.append(Push([b"subscribe", channel, _count(client)]))
    return replies


# PSUBSCRIBE pattern [pattern ...]
@command("psubscribe", -2, "pubsub noscript loading stale subscribed", group="pubsub")
def psubscribe(client: Client, argv: list[bytes]) -> Replies:
    replies = Replies()
    registry = client.broker.pubsub
    for pattern in argv[1:]:
        if pattern not in client.patterns:
            client.patterns[pattern] = None
            registry.psubscribe(client, pattern)
        replies.append(Push([b"psubscribe", pattern, _count(client)]))
    return replies


# SSUBSCRIBE shardchannel [shardchannel ...]
@command("ssubscribe", -2, "pubsub noscript loading stale subscribed", keys=(1, -1, 1), group="pubsub",
         since="7.0.0")
def ssubscribe(client: Client, argv: list[bytes]) -> Replies:
    replies = Replies()
    registry = client.broker.pubsub
    for channel in argv[1:]:
        if channel not in client.shard_channels:
            client.shard_channels[channel] = None
            registry.ssubscribe(client, channel)
        replies.append(Push([b"ssubscribe", channel, len(client.shard_channels)]))
    return replies


# UNSUBSCRIBE [channel [channel ...]]
@command("unsubscribe", -1, "pubsub noscript loading stale subscribed", group="pubsub")
def unsubscribe(client: Client, argv: list[bytes]) -> Replies:
    registry = client.broker.pubsub
    names = argv[1:] or list(client.channels)
    replies = Replies()
    for channel in names:
        # The dict's values are None: pop gives None for a subscribed channel and the
        # default 0 for one that was not, in one lookup instead of "in" then "del".
        if client.channels.pop(channel, 0) is None:
            registry.unsubscribe(client, channel)
        replies.append(Push([b"unsubscribe", channel, _count(client)]))
    if not replies:
        replies.append(Push([b"unsubscribe", None, _count(client)]))
    return replies


# PUNSUBSCRIBE [pattern [pattern ...]]
@command("punsubscribe", -1, "pubsub noscript loading stale subscribed", group="pubsub")
def punsubscribe(client: Client, argv: list[bytes]) -> Replies:
    registry = client.broker.pubsub
    names = argv[1:] or list(client.patterns)
    replies = Replies()
    for pattern in names:
        if client.patterns.pop(pattern, 0) is None:  # None: it was subscribed (see UNSUBSCRIBE)
            registry.punsubscribe(client, pattern)
        replies.append(Push([b"punsubscribe", pattern, _count(client)]))
    if not replies:
        replies.append(Push([b"punsubscribe", None, _count(client)]))
    return replies


# SUNSUBSCRIBE [shardchannel [shardchannel ...]]
@command("sunsubscribe", -1, "pubsub noscript loading stale subscribed", keys=(1, -1, 1), group="pubsub",
         since="7.0.0")
def sunsubscribe(client: Client, argv: list[bytes]) -> Replies:
    registry = client.broker.pubsub
    names = argv[1:] or list(client.shard_channels)
    replies = Replies()
    for channel in names:
        if client.shard_channels.pop(channel, 0) is None:  # None: it was subscribed (see UNSUBSCRIBE)
            registry.sunsubscribe(client, channel)
        replies.append(Push([b"sunsubscribe", channel, len(client.shard_channels)]))
    if not replies:
        replies.append(Push([b"sunsubscribe", None, len(client.shard_channels)]))
    return replies


# PUBLISH channel message
@command("publish", 3, "pubsub loading stale fast", group="pubsub",
         complexity="O(N+M) where N is the number of clients subscribed to the receiving channel "
                    "and M is the total number of subscribed patterns (by any client).")
def publish(client: Client, argv: list[bytes]) -> int:
    client.broker.stats.client_publishes += 1
    return client.broker.publish(argv[1], argv[2])


# SPUBLISH shardchannel message
@command("spublish", 3, "pubsub loading stale fast", keys=(1, 1, 1), group="pubsub", since="7.0.0")
def spublish(client: Client, argv: list[bytes]) -> int:
    broker = client.broker
    broker.stats.pubsub_messages += 1
    broker.stats.client_publishes += 1
    return broker.pubsub.spublish(argv[1], argv[2])


# PUBSUB HELP has none of the subcommands' "pubsub" flag (not @pubsub), as in Redis
_pubsub = container("pubsub", "loading stale", group="pubsub", since="2.8.0")


# PUBSUB CHANNELS [pattern]
@subcommand(_pubsub, "channels", -2, "pubsub")
def pubsub_channels(client: Client, argv: list[bytes]) -> list[bytes]:
    return _matching(list(client.broker.pubsub.channels), argv)


# PUBSUB SHARDCHANNELS [pattern]
@subcommand(_pubsub, "shardchannels", -2, "pubsub", since="7.0.0")
def pubsub_shardchannels(client: Client, argv: list[bytes]) -> list[bytes]:
    return _matching(list(client.broker.pubsub.shard_channels), argv)


def _matching(names: list[bytes], argv: list[bytes]) -> list[bytes]:
    if len(argv) > 3:
        from broker.resp import CommandError
        raise CommandError(f"ERR wrong number of arguments for 'pubsub|{argv[1].lower().decode()}' command")
    if len(argv) == 3:
        match = compile_glob(argv[2])
        return [name for name in names if match(name)]
    return names


# PUBSUB NUMSUB [channel ...]
@subcommand(_pubsub, "numsub", -2, "pubsub")
def pubsub_numsub(client: Client, argv: list[bytes]) -> list[object]:
    reply: list[object] = []
    for channel in argv[2:]:
        reply += [channel, client.broker.pubsub.numsub(channel)]
    return reply


# PUBSUB SHARDNUMSUB [shardchannel ...]
@subcommand(_pubsub, "shardnumsub", -2, "pubsub", since="7.0.0")
def pubsub_shardnumsub(client: Client, argv: list[bytes]) -> list[object]:
    reply: list[object] = []
    for channel in argv[2:]:
        reply += [channel, client.broker.pubsub.shardnumsub(channel)]
    return reply


# PUBSUB NUMPAT
@subcommand(_pubsub, "numpat", 2, "pubsub")
def pubsub_numpat(client: Client, argv: list[bytes]) -> int:
    return client.broker.pubsub.numpat()


# PUBSUB HELP
@subcommand(_pubsub, "help", 2)
def pubsub_help(client: Client, argv: list[bytes]) -> list[str]:
    return [
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Print this help.",
    ]
