"""Per-channel options (presence, history), chosen by glob pattern: first match wins.

A rule is written ``PATTERN=OPTION,OPTION,...`` with options ``presence``,
``history:<messages>`` and ``ttl:<seconds>`` (how long history is kept; default
600), e.g. ``chat:*=presence,history:1000,ttl:600`` or ``ticker:*=`` (nothing:
plain fanout). Channels that match no rule get neither presence nor history, so
high-fanout channels pay for nothing they did not ask for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from broker.glob import glob_match

__all__ = ["DEFAULT_RULES", "PLAIN", "ChannelOptions", "ChannelPolicy", "ChannelRule", "parse_rule"]

DEFAULT_RULES = ("chat:*=presence,history:1000,ttl:600",)
DEFAULT_HISTORY_TTL = 600.0


@dataclass(frozen=True, slots=True)
class ChannelOptions:
    presence: bool = False
    # messages kept (0: no history) and for how long, in seconds
    history_size: int = 0
    history_ttl: float = DEFAULT_HISTORY_TTL

    @property
    def history(self) -> bool:
        return self.history_size > 0

    @property
    def history_ttl_ms(self) -> int:
        return max(1, int(self.history_ttl * 1000))


PLAIN = ChannelOptions()


@dataclass(frozen=True, slots=True)
class ChannelRule:
    pattern: str
    options: ChannelOptions


def parse_rule(text: str) -> ChannelRule:
    """``chat:*=presence,history:1000,ttl:600`` -> ChannelRule.

    Raises:
        ValueError: the rule names what is wrong in it.
    """
    pattern, sep, spec = text.rpartition("=")
    if not sep or not pattern:
        raise ValueError(f"channel rule {text!r}: expected PATTERN=OPTIONS, e.g. 'chat:*=presence,history:100'")
    presence, size, ttl = False, 0, DEFAULT_HISTORY_TTL
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, value = item.partition(":")
        try:
            if name == "presence" and not value:
                presence = True
            elif name == "history":
                size = int(value)
                if size < 1:
                    raise ValueError
            elif name == "ttl":
                ttl = float(value)
                if ttl <= 0:
                    raise ValueError
            else:
                raise KeyError
        except KeyError:
            raise ValueError(f"channel rule {text!r}: unknown option {item!r} "
                             "(expected presence, history:<messages>, ttl:<seconds>)") from None
        except ValueError:
            raise ValueError(f"channel rule {text!r}: {item!r} needs a positive number") from None
    return ChannelRule(pattern, ChannelOptions(presence, size, ttl))


class ChannelPolicy:
    """Options of a channel by the first rule whose pattern matches it (cached)."""

    CACHE_LIMIT = 65536

    def __init__(self, rules: Sequence[ChannelRule | str] = ()) -> None:
        self.rules = [parse_rule(rule) if isinstance(rule, str) else rule for rule in rules]
        # channel -> its options, as options() found them (read directly by
        # gateway.fast_http: a call per publish was more than the look-up)
        self.cache: dict[str, ChannelOptions] = {}

    def options(self, channel: str) -> ChannelOptions:
        options = self.cache.get(channel)
        if options is None:
            options = PLAIN
            subject = channel.encode()
            for rule in self.rules:
                if glob_match(rule.pattern.encode(), subject):
                    options = rule.options
                    break
            if len(self.cache) >= self.CACHE_LIMIT:
                self.cache.clear()
            self.cache[channel] = options
        return options
