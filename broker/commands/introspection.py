"""Introspection commands: SLOWLOG LATENCY MODULE LOLWUT.

The data behind SLOWLOG and LATENCY is kept by ``broker/cmdstats.py`` (with
``broker/slowlog.py`` and ``broker/latency.py``); these handlers only answer.
"""

from __future__ import annotations

import math
import random
import struct

from broker.commands.args import parse_int
from broker.client import Client
from broker.latency import histogram_cdf
from broker.resp import OK, CommandError, Verbatim
from broker.table import COMMANDS, Command, command, container, subcommand

__all__: list[str] = []


def _syntax(argv: list[bytes]) -> CommandError:
    """addReplySubcommandSyntaxError."""
    return CommandError(f"ERR unknown subcommand or wrong number of arguments for "
                        f"'{argv[1].decode('utf-8', 'replace')[:128]}'. Try {argv[0].decode('utf-8', 'replace').upper()} HELP.")


def _help(name: str, lines: list[str]) -> list[str]:
    """addReplyHelp: the header, the lines, then HELP."""
    return [f"{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", *lines, "HELP",
            "    Prints this help."]


# ------------------------------------------------------------------ SLOWLOG

_slowlog = container("slowlog", group="server", since="2.2.12")


# SLOWLOG GET [count]
@subcommand(_slowlog, "get", -2, "admin loading stale")
def slowlog_get(client: Client, argv: list[bytes]) -> list[object]:
    if len(argv) > 3:
        raise _syntax(argv)
    count = 10
    if len(argv) == 3:
        message = "ERR count should be greater than or equal to -1"
        try:
            count = parse_int(argv[2])
        except CommandError:
            raise CommandError(message) from None
        if count < -1:
            raise CommandError(message)
    return client.broker.cmdstats.slowlog.get(count)  # type: ignore[return-value]


# SLOWLOG LEN
@subcommand(_slowlog, "len", 2, "admin loading stale")
def slowlog_len(client: Client, argv: list[bytes]) -> int:
    return len(client.broker.cmdstats.slowlog.entries)


# SLOWLOG RESET
@subcommand(_slowlog, "reset", 2, "admin loading stale")
def slowlog_reset(client: Client, argv: list[bytes]) -> object:
    client.broker.cmdstats.slowlog.reset()
    return OK


# SLOWLOG HELP
@subcommand(_slowlog, "help", 2, "loading stale")
def slowlog_help(client: Client, argv: list[bytes]) -> list[str]:
    return _help("SLOWLOG", [
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog."])


# ------------------------------------------------------------------ LATENCY

_latency = container("latency", group="server", since="2.8.13")


# LATENCY LATEST
@subcommand(_latency, "latest", 2, "admin noscript loading stale")
def latency_latest(client: Client, argv: list[bytes]) -> list[list[object]]:
    return client.broker.cmdstats.latency.latest()


# LATENCY HISTORY event
@subcommand(_latency, "history", 3, "admin noscript loading stale")
def latency_history(client: Client, argv: list[bytes]) -> list[list[int]]:
    return client.broker.cmdstats.latency.history(argv[2])


# LATENCY RESET [event ...]
@subcommand(_latency, "reset", -2, "admin noscript loading stale")
def latency_reset(client: Client, argv: list[bytes]) -> int:
    return client.broker.cmdstats.latency.reset(argv[2:] if len(argv) > 2 else None)


# LATENCY GRAPH event
@subcommand(_latency, "graph", 3, "admin noscript loading stale")
def latency_graph(client: Client, argv: list[bytes]) -> object:
    graph = client.broker.cmdstats.latency.graph(argv[2], client.broker.now_ms // 1000)
    if graph is None:
        raise CommandError(f"ERR No samples available for event '{argv[2].decode('utf-8', 'replace')}'")
    return Verbatim(graph)


# LATENCY DOCTOR
@subcommand(_latency, "doctor", 2, "admin noscript loading stale")
def latency_doctor(client: Client, argv: list[bytes]) -> object:
    broker = client.broker
    return Verbatim(broker.cmdstats.latency.doctor(broker.cmdstats.slowlog.slower_than,
                                                   int(broker.config.get("hz")), broker.now_ms // 1000))


def _cdf(cmd: Command) -> dict[bytes, object]:
    assert cmd.histogram is not None
    calls, buckets = histogram_cdf(cmd.histogram)
    return {b"calls": calls, b"histogram_usec": buckets}


# LATENCY HISTOGRAM [command ...]
@subcommand(_latency, "histogram", -2, "admin noscript loading stale")
def latency_histogram(client: Client, argv: list[bytes]) -> dict[bytes, object]:
    reply: dict[bytes, object] = {}
    if len(argv) == 2:
        for cmd in client.broker.cmdstats.all_commands():
            if cmd.histogram is not None:
                reply[cmd.fullname.encode()] = _cdf(cmd)
        return reply
    for name in argv[2:]:
        base, _, sub = name.lower().partition(b"|")
        cmd = COMMANDS.get(base)
        if cmd is not None and sub:
            cmd = cmd.subcommands.get(sub)
        if cmd is None:
            continue  # an unknown command is left out, as in Redis
        if cmd.histogram is not None:
            reply[cmd.fullname.encode()] = _cdf(cmd)
        for child in cmd.subcommands.values():
            if child.histogram is not None:
                reply[child.fullname.encode()] = _cdf(child)
    return reply


# LATENCY HELP
@subcommand(_latency, "help", 2, "loading stale")
def latency_help(client: Client, argv: list[bytes]) -> list[str]:
    return _help("LATENCY", [
        "DOCTOR",
        "    Return a human readable latency analysis report.",
        "GRAPH <event>",
        "    Return an ASCII latency graph for the <event> class.",
        "HISTORY <event>",
        "    Return time-latency samples for the <event> class.",
        "LATEST",
        "    Return the latest latency samples for all events.",
        "RESET [<event> ...]",
        "    Reset latency data of one or more <event> classes.",
        "    (default: reset all data for all event classes)",
        "HISTOGRAM [COMMAND ...]",
        "    Return a cumulative distribution of latencies in the format of a histogram for the specified command "
        "names.",
        "    If no commands are specified then all histograms are replied."])


# ------------------------------------------------------------------- MODULE

_module = container("module", group="server", since="4.0.0")


# MODULE LIST: no module is ever loaded
@subcommand(_module, "list", 2, "admin noscript")
def module_list(client: Client, argv: list[bytes]) -> list[object]:
    return []


# MODULE LOAD path [arg ...], MODULE LOADEX path [CONFIG name value ...] [ARGS arg ...]
@subcommand(_module, "load", -3, "admin noscript no_async_loading")
@subcommand(_module, "loadex", -3, "admin noscript no_async_loading", since="7.0.0")
def module_load(client: Client, argv: list[bytes]) -> object:
    _module_allowed(client)
    # Redis modules are C shared objects written against redis-server's own module API:
    # this broker cannot host them, so it says so rather than Redis's "check the logs"
    raise CommandError("ERR Error loading the extension. fanout's broker does not load Redis modules "
                       "(its commands are built in)")


# MODULE UNLOAD name
@subcommand(_module, "unload", 3, "admin noscript no_async_loading")
def module_unload(client: Client, argv: list[bytes]) -> object:
    _module_allowed(client)
    raise CommandError("ERR Error unloading module: no such module with that name")


def _module_allowed(client: Client) -> None:
    """Redis 7.0 refuses MODULE LOAD/UNLOAD unless enable-module-command allows it
    (a protected command; the setting is fixed at start-up), with these words."""
    setting = client.broker.config.get("enable-module-command")
    if setting == "yes" or (setting == "local" and (client.unix or client.addr.startswith("127.0.0.1:"))):
        return
    raise CommandError("ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", "
                       "you can run it from a local connection, otherwise you need to set this option in the "
                       "configuration file, and then restart the server.")


# MODULE HELP
@subcommand(_module, "help", 2, "loading stale", since="5.0.0")
def module_help(client: Client, argv: list[bytes]) -> list[str]:
    return _help("MODULE", [
        "LIST",
        "    Return a list of loaded modules.",
        "LOAD <path> [<arg> ...]",
        "    Load a module library from <path>, passing to it any optional arguments.",
        "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
        "    Load a module library from <path>, while passing it module configurations and optional arguments.",
        "UNLOAD <name>",
        "    Unload a module."])


# ------------------------------------------------------------------- LOLWUT

def _f32(value: float) -> float:
    """C's float: the drawing's arithmetic is single precision, as lolwut5.c's."""
    return struct.unpack("f", struct.pack("f", value))[0]  # type: ignore[no-any-return]


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(width * height)

    def pixel(self, x: int, y: int) -> int:
        if 0 <= x < self.width and 0 <= y < self.height:
            return self.pixels[x + y * self.width]
        return 0

    def draw(self, x: int, y: int) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            self.pixels[x + y * self.width] = 1

    def line(self, x1: int, y1: int, x2: int, y2: int) -> None:
        """lwDrawLine: Bresenham."""
        dx, dy = abs(x2 - x1), abs(y2 - y1)
        sx, sy = (1 if x1 < x2 else -1), (1 if y1 < y2 else -1)
        err = dx - dy
        while True:
            self.draw(x1, y1)
            if x1 == x2 and y1 == y2:
                break
            e2 = err * 2
            if e2 > -dy:
                err -= dy
                x1 += sx
            if e2 < dx:
                err += dx
                y1 += sy

    def square(self, x: int, y: int, size: float, angle: float) -> None:
        """lwDrawSquare."""
        size = _f32(round(_f32(size / 1.4142135623)))
        k = _f32(math.pi / 4 + angle)
        points = []
        for _ in range(4):
            points.append((_c_round(math.sin(k) * size + x), _c_round(math.cos(k) * size + y)))
            k = _f32(k + math.pi / 2)
        for j in range(4):
            self.line(*points[j], *points[(j + 1) % 4])


def _c_round(value: float) -> int:
    """C's round(): halves away from zero (Python's round() goes to even)."""
    return int(math.floor(value + 0.5)) if value >= 0 else -int(math.floor(-value + 0.5))


def _schotter(cols: int, per_row: int, per_col: int, rng: random.Random) -> _Canvas:
    """lwDrawSchotter: Georg Nees's squares, more disordered row after row."""
    width = cols * 2
    padding = 2 if width > 4 else 0
    side = _f32((width - padding * 2) / per_row)
    canvas = _Canvas(width, int(_f32(side * per_col + padding * 2)))
    for y in range(per_col):
        for x in range(per_row):
            sx = int(_f32(_f32(x * side) + side / 2 + padding))
            sy = int(_f32(_f32(y * side) + side / 2 + padding))
            angle = 0.0
            if y > 1:
                r1, r2, r3 = (_f32(rng.random() / per_col * y) for _ in range(3))
                r1, r2, r3 = (-r if rng.getrandbits(1) else r for r in (r1, r2, r3))
                angle = r1
                sx = int(sx + r2 * side / 3)  # (an int plus a float, truncated: C's +=)
                sy = int(sy + r3 * side / 3)
            canvas.square(sx, sy, side, angle)
    return canvas


def _render(canvas: _Canvas) -> str:
    """renderCanvas: 2x4 pixels to one braille character (U+2800 + dot bits)."""
    rows = []
    for y in range(0, canvas.height, 4):
        line = []
        for x in range(0, canvas.width, 2):
            bits = 0
            for bit, (dx, dy) in enumerate(((0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (0, 3), (1, 3))):
                if canvas.pixel(x + dx, y + dy):
                    bits |= 1 << bit
            line.append(chr(0x2800 + bits))
        rows.append("".join(line))
    # "\n" between rows, and after the last unless the height is 4k+1 (as Redis's loop)
    text = ""
    for index, y in enumerate(range(0, canvas.height, 4)):
        text += rows[index]
        if y != canvas.height - 1:
            text += "\n"
    return text


def _lolwut5(client: Client, args: list[bytes]) -> str:
    values = [66, 8, 12]
    for index, arg in enumerate(args[:3]):
        values[index] = parse_int(arg)
    cols = min(max(values[0], 1), 1000)
    per_row = min(max(values[1], 1), 200)
    per_col = min(max(values[2], 1), 200)
    canvas = _schotter(cols, per_row, per_col, random.Random())
    return (_render(canvas) + "\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. "
            + client.broker.version + "\n")


# renderCanvas's colours (foreground and background) for lolwut6's four grays
_GRAYS = ("0;30;40m", "0;90;100m", "0;37;47m", "0;97;107m")


def _skyscraper(pixels: list[bytearray], width: int, xoff: int, wide: int, high: int, windows: bool,
                color: int, rand: random.Random) -> None:
    """generateSkyscraper: windows two cells wide, one tall, of the other two grays."""
    starty = len(pixels) - 1
    endy = starty - high + 1
    for y in range(starty, endy - 1, -1):
        if y < 0:
            break  # (lwDrawPixel would drop every pixel above the canvas)
        row = pixels[y]
        for x in range(xoff, xoff + wide):
            if y == endy and (x <= xoff + 1 or x >= xoff + wide - 2):
                continue  # the roof is four pixels less wide
            shade = color
            if windows and xoff + 1 < x < xoff + wide - 2 and endy + 1 < y < starty - 1:
                relx, rely = x - (xoff + 1), y - (endy + 1)
                if relx // 2 % 2 and rely % 2:
                    shade = 1 + rand.getrandbits(31) % 2
                    while shade == color:
                        shade = 1 + rand.getrandbits(31) % 2
                    if relx % 2:
                        shade = row[x - 1] if 0 < x <= width else 0
            if 0 <= x < width:
                row[x] = shade


def _lolwut6(client: Client, args: list[bytes]) -> str:
    """lolwut6Command: a city skyline, as the parallax backgrounds of 8 bit games."""
    cols = min(max(parse_int(args[0]), 1), 1000) if args else 80
    rows = min(max(parse_int(args[1]), 1), 1000) if len(args) > 1 else 20
    rand = random.Random()

    def r() -> int:  # C's rand(): 31 random bits
        return rand.getrandbits(31)

    pixels = [bytearray([3]) * cols for _ in range(rows)]
    # the background without windows in both grays, the lighter behind
    for color in (2, 1):
        offset = -10
        while offset < cols:
            offset += r() % 8
            wide = 10 + r() % 9
            high = rows // 2 + (r() % rows // 2 if color == 2 else r() % rows // 3)
            _skyscraper(pixels, cols, offset, wide, high, False, color, rand)
            offset += wide // 2 if color == 2 else wide + 1
    offset = -10
    while offset < cols:
        offset += r() % 8
        wide = 5 + r() % 14
        if wide % 4:
            wide += wide % 3
        high = rows // 3 + r() % rows // 2
        _skyscraper(pixels, cols, offset, wide, high, True, 0, rand)
        offset += wide + 5
    canvas = "\n".join("".join(f"\033[{_GRAYS[shade]} \033[0m" for shade in row) for row in pixels)
    return (canvas + "\nDedicated to the 8 bit game developers of past and present.\n"
            "Original 8 bit image from Plaguemon by hikikomori. Redis ver. " + client.broker.version + "\n")


# LOLWUT [VERSION version] [arg ...]
@command("lolwut", -1, "readonly fast", group="server", since="5.0.0")
def lolwut(client: Client, argv: list[bytes]) -> object:
    version = client.broker.version
    args = argv[1:]
    if len(argv) >= 3 and argv[1].lower() == b"version":
        version = "%d.0.0" % (parse_int(argv[2]) & 0xFFFFFFFF)
        args = argv[3:]
    if (version.startswith("5.") and not version.startswith("5.9")) or version.startswith("4.9"):
        return Verbatim(_lolwut5(client, args))
    if (version.startswith("6.") and not version.startswith("6.9")) or version.startswith("5.9"):
        return Verbatim(_lolwut6(client, args))
    return Verbatim("Redis ver. " + client.broker.version + "\n")
