"""The ``fanout`` command line: serve, broker, token and demo-feed.

Every setting of ``serve`` and ``broker`` is a flag, an environment variable
``FANOUT_<FLAG>`` (``--http-port`` -> ``FANOUT_HTTP_PORT``) and a key of a TOML
file given with ``--config`` (``http-port = 8080`` or ``http_port = 8080``).
Precedence: flag, then environment, then file, then the default. Each value is
checked against its declaration in ``gateway.options``, wherever it comes from.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import signal
import sys
import tomllib
from pathlib import Path
from typing import Any

from gateway.options import Kind, Option, OptionError, check_file_keys, options_for

__all__ = ["build_parser", "main", "version"]

_DESCRIPTIONS = {
    "serve": "Run the websocket gateway, its HTTP API and the embedded broker (or a node on a shared "
             "backplane with --broker redis://...).",
    "broker": "Run the Redis-compatible RESP broker alone, without the gateway.",
    "token": "Print a signed connection token (JWT, HS256) for a user; give it to a page as ?token=...",
    "demo-feed": "Feed the dashboard and leaderboard demos over RESP, as a backend service would "
                 "(metrics:* publishes, the dashboard:status hash, the leaderboard:demo sorted set).",
}


def version() -> str:
    """The installed distribution's version, else pyproject.toml's (a source checkout)."""
    from importlib import metadata

    try:
        return metadata.version("fanout")
    except metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        try:
            return str(tomllib.loads(pyproject.read_text())["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"


def _typed(option: Option) -> Any:
    """An argparse ``type`` that checks the value against the option's declaration."""
    def convert(raw: str) -> Any:
        try:
            return option.parse(raw)
        except OptionError as exc:  # argparse prefixes "argument --flag: "
            raise argparse.ArgumentTypeError(str(exc).removeprefix(option.flag + " ")) from None
    convert.__name__ = option.kind.value
    return convert


def _add_options(parser: argparse.ArgumentParser, command: str) -> None:
    for option in options_for(command):
        help_text = argparse.SUPPRESS if option.hidden else option.help_text()
        if option.kind is Kind.FLAG:
            parser.add_argument(option.flag, action="store_true", default=option.default, help=help_text)
        elif option.kind is Kind.LIST:
            # One value per flag (argparse appends them); the environment's and TOML's whole
            # lists go through option.parse.
            parser.add_argument(option.flag, action="append", default=option.default, metavar=option.metavar,
                                help=help_text)
        else:
            metavar = "{" + ",".join(option.choices) + "}" if option.choices else option.metavar
            parser.add_argument(option.flag, type=_typed(option), default=option.default,
                                metavar=metavar or option.dest.upper(), help=help_text)


def _nonempty(what: str) -> Any:
    def convert(raw: str) -> str:
        if not raw:
            raise argparse.ArgumentTypeError(f"must not be empty ({what})")
        return raw
    return convert


def _at_least_one(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of seconds of at least 1, got {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of seconds of at least 1, got {raw!r}")
    return value


class _Parser(argparse.ArgumentParser):
    """Errors in one line that names the setting: "fanout serve: error: --http-port must be ..."."""

    def error(self, message: str) -> Any:  # argparse's signature says NoReturn
        if message.startswith("argument "):  # "argument --ttl: must be ..." -> "--ttl must be ..."
            name, _, rest = message[len("argument "):].partition(": ")
            message = f"{name.split('/')[0]} {rest}"
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def persistence_config(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The CONFIG parameters the persistence flags set (validated by ``Config.set_many``)."""
    return [("dir", args.dir), ("dbfilename", args.dbfilename), ("save", args.save),
            ("appendonly", args.appendonly), ("appendfsync", args.appendfsync)]


def build_parser() -> argparse.ArgumentParser:
    # allow_abbrev=False everywhere: "--http 18096" must not quietly mean --http-port
    # (and then lose to FANOUT_HTTP_PORT, which is merged by exact flag name).
    parser = _Parser(prog="fanout", allow_abbrev=False,
                                     description="fanout: a realtime pub/sub gateway for websockets, with an "
                                                 "embedded Redis-compatible broker.",
                     epilog="Each setting of serve and broker is also an environment variable FANOUT_<FLAG> "
                            "and a key of the TOML file given with --config; see fanout serve --help.")
    parser.add_argument("--version", action="version", version=f"fanout {version()}",
                        help="print fanout's version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=_Parser)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help, description=_DESCRIPTIONS[name], allow_abbrev=False)

    serve = command("serve", "websocket gateway + HTTP API + embedded broker")
    _add_options(serve, "serve")
    broker = command("broker", "the RESP broker alone")
    _add_options(broker, "broker")

    token = command("token", "print a signed connection token (JWT) for a user")
    token.add_argument("--token-secret", required=True, type=_nonempty("the secret fanout serve checks with"),
                       metavar="S", help="the secret that fanout serve checks tokens with (--token-secret)")
    token.add_argument("--sub", required=True, type=_nonempty("the user id"), metavar="USER",
                       help="the user id")
    token.add_argument("--info", default=None, metavar="JSON", help="public user info shown in presence (JSON)")
    token.add_argument("--subscribe", action="append", metavar="GLOB",
                       help="channels the user may subscribe to (repeatable; default: all)")
    token.add_argument("--publish", action="append", metavar="GLOB",
                       help="channels the user may publish on (repeatable; default: none)")
    token.add_argument("--ttl", type=_at_least_one, default=3600, metavar="SECONDS",
                       help="lifetime in seconds, at least 1 (default 3600)")

    from gateway import demo_feed
    feed = command("demo-feed", "publish demo metrics, a hash and a leaderboard over RESP")
    feed.add_argument("--host", default="127.0.0.1", help="fanout's RESP host (default 127.0.0.1)")
    demo_feed.add_arguments(feed)
    return parser


def _given(argv: list[str]) -> set[str]:
    """The flags named on the command line (exactly: abbreviations are refused)."""
    flags = set()
    for arg in argv:
        if arg == "--":
            break
        if arg.startswith("--"):
            flags.add(arg.split("=", 1)[0])
    return flags


def _untabled(subparser: argparse.ArgumentParser, command: str) -> dict[str, tuple[Option, Any]]:
    """Flags added with plain ``add_argument`` rather than a line in ``OPTIONS``: they
    still get their environment variable and TOML key (converted by their argparse
    ``type``), so nothing is lost until they are declared in the table."""
    tabled = {option.dest for option in options_for(command)}
    found: dict[str, tuple[Option, Any]] = {}
    for action in subparser._actions:
        if not action.option_strings or action.dest in tabled or action.dest == "help" \
                or action.help == argparse.SUPPRESS:
            continue
        kind = Kind.FLAG if isinstance(action, argparse._StoreTrueAction) \
            else Kind.LIST if isinstance(action, argparse._AppendAction) else Kind.STR
        option = Option(action.option_strings[0][2:], kind, action.default, action.help or "", (command,))
        found[option.dest] = (option, action.type if callable(action.type) else None)
    return found


def _convert(option: Option, convert: Any, raw: Any, source: str) -> Any:
    value = option.parse(raw, source)
    if convert is None or option.kind is not Kind.STR:
        return value
    try:
        return convert(value)
    except (TypeError, ValueError, argparse.ArgumentTypeError) as exc:
        raise OptionError(f"{source} is not valid: {raw!r} ({exc})") from None


def _apply_env_and_file(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str],
                        environ: dict[str, str] | None = None) -> None:
    """Fill options not given on the command line from FANOUT_* and the TOML file,
    each value checked as its flag's is."""
    environ = dict(os.environ if environ is None else environ)
    given = _given(argv)
    command = args.command
    subparser = parser._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    extra = _untabled(subparser, command)
    file_values: dict[str, Any] = {}
    config_path = args.config or environ.get("FANOUT_CONFIG")
    try:
        if config_path:
            try:
                with open(config_path, "rb") as handle:
                    raw_file = tomllib.load(handle)
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise OptionError(f"cannot read config file {config_path}: {exc}") from None
            file_values = check_file_keys(raw_file, command, config_path, [option for option, _ in extra.values()])
        for option in options_for(command):
            if option.hidden or option.name == "config" or option.flag in given:
                continue
            if option.env in environ:
                setattr(args, option.dest, option.parse(environ[option.env], option.env))
            elif option.dest in file_values:
                setattr(args, option.dest, file_values[option.dest])
        for option, convert in extra.values():
            if option.flag in given:
                continue
            if option.env in environ:
                setattr(args, option.dest, _convert(option, convert, environ[option.env], option.env))
            elif option.dest in file_values:
                setattr(args, option.dest, _convert(option, convert, file_values[option.dest],
                                                    f"{config_path}: {option.name}"))
    except OptionError as exc:
        subparser.error(str(exc))


def broker_config(args: argparse.Namespace) -> dict[str, str]:
    """The embedded broker's start-up CONFIG values: requirepass, and appenddirname
    (immutable at runtime, so not among ``persistence_config``)."""
    config = {"requirepass": args.requirepass} if args.requirepass else {}
    if args.aclfile:
        # relative to --dir, as Redis reads it after changing into its dir
        config["aclfile"] = args.aclfile
        config["dir"] = args.dir
    config["appenddirname"] = args.appenddirname
    config["maxmemory"] = str(args.maxmemory)
    config["maxmemory-policy"] = args.maxmemory_policy
    return config


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "token":
        return _print_token(parser, args)
    if args.command == "demo-feed":  # a client, not a server: no config file or environment
        from gateway import demo_feed
        return demo_feed.run(args)
    _apply_env_and_file(parser, args, argv)
    from gateway import logs
    logs.configure(args.log_level, args.log_format)
    from broker.server import install_uvloop
    install_uvloop()
    try:
        if args.command == "broker":
            return asyncio.run(_run_broker(args))
        if args.parent_pid:
            from gateway.workers import die_with_parent
            die_with_parent(args.parent_pid)
        if args.workers > 1:
            from gateway.workers import run_workers
            return asyncio.run(run_workers(args, argv))
        return asyncio.run(_run_serve(args))
    except KeyboardInterrupt:
        return 0


def _print_token(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    import orjson

    from gateway.auth import issue_token
    try:
        info = orjson.loads(args.info) if args.info is not None else None
    except orjson.JSONDecodeError as exc:
        parser.error(f"--info is not valid JSON: {exc}")
    print(issue_token(args.token_secret, args.sub, ttl_seconds=args.ttl, info=info, subscribe=args.subscribe,
                      publish=args.publish))
    return 0


def port_error(what: str, host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"fanout: cannot listen for {what} on {host}:{port}: the port is already in use"
    return f"fanout: cannot listen for {what} on {host}:{port}: {exc.strerror or exc}"


def stop_on_signals() -> asyncio.Event:
    """An event set on SIGINT or SIGTERM; install it before saying we listen."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _run_broker(args: argparse.Namespace) -> int:
    from broker.core import Broker
    from broker.persistence.aof import AofLoadError
    from broker.server import LoadFailed, RespServer, load_snapshot

    try:
        broker = Broker(config=broker_config(args))
    except ValueError as exc:  # an unreadable --aclfile
        print(exc, file=sys.stderr)
        return 1
    problem = configure_persistence(broker, args)
    if problem:
        print(f"fanout: {problem}", file=sys.stderr)
        return 2
    stop = stop_on_signals()
    saved = on_shutdown_command(broker, stop)
    server = RespServer(broker, args.host, args.port, unix_path=args.unix_socket or None)
    try:
        await server.start()
    except AofLoadError as exc:
        print(f"fanout broker: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(port_error("RESP", args.host, args.port, exc), file=sys.stderr)
        return 1
    from gateway.logs import fact
    for address in server.addresses:
        fact(f"fanout broker: RESP on {address}", resp=address)
    fact(f"fanout broker: persistence {persistence_words(args)}", save=args.save,
         rdb=os.path.join(args.dir, args.dbfilename))
    try:
        await load_snapshot(broker)
    except LoadFailed as exc:
        print(f"fanout: {exc}", file=sys.stderr, flush=True)
        await server.close()
        return 1
    await stop.wait()
    if not saved:
        broker.persistence.save_on_shutdown()
    await server.close()
    fact("fanout broker: stopped")
    return 0


def persistence_words(args: argparse.Namespace) -> str:
    """The embedded broker's persistence in words, for the start-up line."""
    path = os.path.join(args.dir, args.dbfilename)
    aof = ""
    if args.appendonly == "yes":
        aof = f"; AOF in {os.path.join(args.dir, args.appenddirname)} (appendfsync {args.appendfsync})"
    if not args.save.strip():
        return f"off: no snapshots (--save \"\"); SAVE and BGSAVE still write {path}{aof}"
    return f"RDB snapshots to {path} (save {args.save}; and on shutdown){aof}"


def configure_persistence(broker: Any, args: argparse.Namespace) -> str | None:
    """Apply --dir/--dbfilename/--save to ``broker``; the problem, if one is refused."""
    from broker.resp import CommandError

    try:
        broker.config.set_many(persistence_config(args))
    except CommandError as exc:
        return exc.message.removeprefix("ERR ")
    return None


def on_shutdown_command(broker: Any, stop: asyncio.Event) -> list[bool]:
    """Let SHUTDOWN stop the process; the list becomes [True] once it did (it has
    saved already, so the exit path must not save again)."""
    done: list[bool] = []

    def shutdown() -> None:
        done.append(True)
        stop.set()

    broker.on_shutdown = shutdown
    return done


async def _run_serve(args: argparse.Namespace) -> int:
    from gateway.app import run_serve

    return await run_serve(args)


if __name__ == "__main__":
    sys.exit(main())
