"""The ``fanout`` command line: ``fanout serve`` and ``fanout broker``.

Every flag can also be given as an environment variable ``FANOUT_<FLAG>``
(``--http-port`` -> ``FANOUT_HTTP_PORT``) or as a key of a TOML file given with
``--config`` (``http-port = 8080`` or ``http_port = 8080``). Precedence: flag,
then environment, then file, then the default.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import signal
import sys
import tomllib
from collections.abc import Callable
from typing import Any

__all__ = ["build_parser", "main"]


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="TOML file with settings (keys as the flags)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--requirepass", default="", metavar="P", help="password required on the RESP port")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def _add_persistence(parser: argparse.ArgumentParser) -> None:
    """RDB snapshot flags of the embedded broker (Redis's defaults)."""
    parser.add_argument("--dir", default=".", metavar="DIR",
                        help="directory of the snapshot file (default: the current directory, as Redis)")
    parser.add_argument("--dbfilename", default="dump.rdb", metavar="NAME",
                        help="snapshot file name (default dump.rdb)")
    parser.add_argument("--save", default="3600 1 300 100 60 10000", metavar="SCHEDULE",
                        help="snapshot after <seconds> <changes> pairs, and on shutdown; \"\" turns "
                             "snapshots off (default \"3600 1 300 100 60 10000\", as Redis)")


def persistence_config(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The CONFIG parameters the persistence flags set (validated by ``Config.set_many``)."""
    return [("dir", args.dir), ("dbfilename", args.dbfilename), ("save", args.save)]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fanout", description=__doc__.splitlines()[0] if __doc__ else "")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="websocket gateway + HTTP API + embedded broker")
    _add_common(serve)
    serve.add_argument("--http-port", type=int, default=8080, help="HTTP/websocket port (default 8080)")
    serve.add_argument("--resp-port", type=int, default=6380, help="RESP port of the embedded broker "
                       "(default 6380; -1 to not listen)")
    serve.add_argument("--broker", default="memory://", metavar="URL",
                       help="memory:// (embedded, default) or redis://host:port/db")
    serve.add_argument("--workers", type=int, default=1,
                       help="gateway worker processes sharing the HTTP port, around one embedded broker "
                            "(default 1: one process)")
    serve.add_argument("--unix-socket", default="", metavar="PATH",
                       help="the embedded broker also listens on this unix socket")
    serve.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)  # set for workers
    serve.add_argument("--parent-pid", type=int, default=0, help=argparse.SUPPRESS)  # a worker's supervisor
    serve.add_argument("--token-secret", default="", metavar="S", help="HS256 secret for connection tokens")
    serve.add_argument("--api-key", default="", metavar="K", help="API key for the HTTP API")
    serve.add_argument("--allowed-origins", default="", metavar="LIST",
                       help="comma-separated Origin allow-list for websocket upgrades (empty: any)")
    serve.add_argument("--max-message-size", type=int, default=64 * 1024, metavar="BYTES",
                       help="largest websocket message or HTTP body (default 65536)")
    serve.add_argument("--max-buffer", type=int, default=1 << 20, metavar="BYTES",
                       help="output budget per connection before messages are skipped (default 1 MiB)")
    serve.add_argument("--slow-close-after", type=float, default=5.0, metavar="SECONDS",
                       help="close a connection over its output budget this long (default 5)")
    serve.add_argument("--max-subscriptions", type=int, default=1000, help="per connection (default 1000)")
    serve.add_argument("--max-connections", type=int, default=100_000, help="per node (default 100000)")
    serve.add_argument("--publish-rate", type=float, default=100.0, metavar="PER_SECOND",
                       help="publishes per second per connection (default 100)")
    serve.add_argument("--publish-burst", type=float, default=200.0, help="publish burst allowed (default 200)")
    serve.add_argument("--ping-interval", type=float, default=20.0, metavar="SECONDS",
                       help="websocket ping interval; late pongs close the connection (default 20)")
    serve.add_argument("--channel", action="append", metavar="RULE",
                       help="presence/history per channel pattern, first match wins, repeatable: "
                            "'chat:*=presence,history:1000,ttl:600' (default: that one rule)")
    serve.add_argument("--node-ttl", type=float, default=15.0, metavar="SECONDS",
                       help="heartbeat TTL: a dead node's connections leave presence after this (default 15)")
    serve.add_argument("--shutdown-timeout", type=float, default=5.0, metavar="SECONDS",
                       help="how long shutdown waits for connections to close (default 5)")

    _add_persistence(serve)
    serve.add_argument("--watch-interval", type=float, default=0.05, metavar="SECONDS",
                       help="live views: at most one push per view per interval (default 0.05)")

    broker = commands.add_parser("broker", help="the RESP broker alone")
    _add_common(broker)
    broker.add_argument("--port", type=int, default=6380, help="RESP port (default 6380)")
    broker.add_argument("--unix-socket", default="", metavar="PATH", help="also listen on a unix socket")
    _add_persistence(broker)

    token = commands.add_parser("token", help="print a signed connection token (JWT) for a user")
    token.add_argument("--token-secret", required=True, metavar="S", help="the secret `fanout serve` checks with")
    token.add_argument("--sub", required=True, metavar="USER", help="the user id")
    token.add_argument("--info", default=None, metavar="JSON", help="public user info shown in presence (JSON)")
    token.add_argument("--subscribe", action="append", metavar="GLOB",
                       help="channels the user may subscribe to (repeatable; default: all)")
    token.add_argument("--publish", action="append", metavar="GLOB",
                       help="channels the user may publish on (repeatable; default: none)")
    token.add_argument("--ttl", type=int, default=3600, metavar="SECONDS", help="lifetime (default 3600)")

    from gateway import demo_feed
    feed = commands.add_parser("demo-feed", help="publish demo metrics, a hash and a leaderboard over RESP")
    feed.add_argument("--host", default="127.0.0.1", help="fanout's RESP host (default 127.0.0.1)")
    demo_feed.add_arguments(feed)
    return parser


def _apply_env_and_file(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str]) -> None:
    """Fill options not given on the command line from FANOUT_* and the TOML file."""
    given = {arg.split("=")[0] for arg in argv if arg.startswith("--")}
    file_values: dict[str, Any] = {}
    config_path = args.config or os.environ.get("FANOUT_CONFIG")
    if config_path:
        try:
            with open(config_path, "rb") as handle:
                file_values = {key.replace("-", "_"): value for key, value in tomllib.load(handle).items()}
        except (OSError, tomllib.TOMLDecodeError) as exc:
            parser.error(f"cannot read config file {config_path}: {exc}")
    subparser = parser._subparsers._group_actions[0].choices[args.command]  # type: ignore[union-attr]
    for action in subparser._actions:
        if not action.option_strings or action.dest in ("help", "config"):
            continue
        flag = action.option_strings[0]
        if flag in given:
            continue
        env_name = "FANOUT_" + action.dest.upper()
        raw: Any = os.environ.get(env_name, file_values.get(action.dest))
        if raw is None:
            continue
        convert: Callable[[Any], Any] = action.type if callable(action.type) else str  # type: ignore[assignment]
        if isinstance(action, argparse._AppendAction):  # a TOML list, or space-separated in the environment
            convert = lambda value: list(value) if isinstance(value, list) else str(value).split()
        try:
            setattr(args, action.dest, convert(raw))
        except (TypeError, ValueError):
            parser.error(f"invalid value for {flag} (from {env_name} or the config file): {raw!r}")


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
    import logging
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
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
    from broker.server import LoadFailed, RespServer, load_snapshot

    config = {"requirepass": args.requirepass} if args.requirepass else {}
    broker = Broker(config=config)
    problem = configure_persistence(broker, args)
    if problem:
        print(f"fanout: {problem}", file=sys.stderr)
        return 2
    stop = stop_on_signals()
    saved = on_shutdown_command(broker, stop)
    server = RespServer(broker, args.host, args.port, unix_path=args.unix_socket or None)
    try:
        await server.start()
    except OSError as exc:
        print(port_error("RESP", args.host, args.port, exc), file=sys.stderr)
        return 1
    for address in server.addresses:
        print(f"fanout broker: RESP on {address}", flush=True)
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
    print("fanout broker: stopped", flush=True)
    return 0


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
