"""The command line refuses nonsense, from flags, FANOUT_* and the TOML file, in one
line that names the setting and the allowed range (issue #17)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import free_port, start_fanout


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("FANOUT_")
             or key == "FANOUT_TEST_TIME_SCALE"}
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True,
                          timeout=30, env={**clean, **(env or {})})


def refused(result: subprocess.CompletedProcess[str]) -> str:
    """The one line of a refusal (exit 2, nothing on stdout, no traceback)."""
    assert result.returncode == 2, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("flag, value, allowed", [
    ("--http-port", "99999", "a port from 0 to 65535"),
    ("--resp-port", "-2", "a port from -1 to 65535 (-1: do not listen)"),
    ("--ping-interval", "0", "a number of seconds greater than 0"),
    ("--slow-close-after", "-1", "a number of seconds greater than 0"),
    ("--publish-rate", "-3", "a number greater than 0"),
    ("--workers", "0", "an integer from 1 to 256"),
    ("--max-subscriptions", "0", "an integer of at least 1"),
    ("--max-buffer", "-1", "a size of at least 1 (bytes, or with a unit as in 64kb or 1mb: "
                           "b, k, kb, m, mb, g, gb; k = 1000, kb = 1024)"),
    ("--max-message-size", "0", "a size of at least 1 (bytes, or with a unit as in 64kb or 1mb: "
                                "b, k, kb, m, mb, g, gb; k = 1000, kb = 1024)"),
    ("--log-level", "loud", "one of debug, info, warning, error"),
])
def test_bad_flag_values(flag, value, allowed):
    assert refused(run("serve", flag, value)) == \
        f"fanout serve: error: {flag} must be {allowed}, got {value!r} (see fanout serve --help)"


def test_bad_environment_value_names_the_variable():
    assert refused(run("serve", env={"FANOUT_PING_INTERVAL": "0"})) == \
        "fanout serve: error: FANOUT_PING_INTERVAL must be a number of seconds greater than 0, got '0' " \
        "(see fanout serve --help)"
    assert refused(run("broker", env={"FANOUT_PORT": "http"})) == \
        "fanout broker: error: FANOUT_PORT must be a port from 0 to 65535, got 'http' (see fanout broker --help)"


def test_toml_typo_is_an_error_with_a_suggestion(tmp_path: Path):
    config = tmp_path / "fanout.toml"
    config.write_text("http-prot = 18093\n")
    assert refused(run("serve", "--config", str(config))) == \
        f"fanout serve: error: {config}: unknown key 'http-prot' (did you mean 'http-port'?) " \
        "(see fanout serve --help)"
    config.write_text("[server]\nhttp-port = 1\n")
    assert refused(run("serve", "--config", str(config))) == \
        f"fanout serve: error: {config}: unknown table [server] (settings are top-level keys, " \
        "e.g. http-port = 8080) (see fanout serve --help)"
    config.write_text('max-buffer = "lots"\n')
    assert refused(run("serve", "--config", str(config))).startswith(
        f"fanout serve: error: {config}: max-buffer must be a size of at least 1 ")
    config.write_text("http-port = 1 2\n")
    assert refused(run("serve", "--config", str(config))).startswith(
        f"fanout serve: error: cannot read config file {config}: ")


def test_abbreviated_flags_are_refused():
    assert refused(run("serve", "--http", "18096", env={"FANOUT_HTTP_PORT": "18097"})) == \
        "fanout: error: unrecognized arguments: --http 18096 (see fanout --help)"


def test_flag_beats_environment_beats_file(tmp_path: Path):
    config = tmp_path / "fanout.toml"
    file_port, env_port, flag_port = free_port(), free_port(), free_port()
    config.write_text(f"http-port = {file_port}\nresp-port = -1\nmax-buffer = \"64kb\"\n")
    env = {"FANOUT_HTTP_PORT": str(env_port), "FANOUT_CONFIG": str(config)}
    for args, expected in ((("--http-port", str(flag_port)), flag_port), ((), env_port)):
        server = start_fanout("serve", *args, env=env)
        try:
            assert server.output[-1].strip() == f"fanout serve: HTTP on http://127.0.0.1:{expected}"
        finally:
            server.stop()
    server = start_fanout("serve", "--config", str(config))
    try:
        assert server.output[-1].strip() == f"fanout serve: HTTP on http://127.0.0.1:{file_port}"
    finally:
        server.stop()


def test_version_and_help():
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == "fanout 0.1.0"
    top = run("--help").stdout
    for command in ("serve", "broker", "token", "demo-feed"):
        assert command in top
    serve = run("serve", "--help").stdout
    assert "`" not in serve
    assert "Run the websocket gateway" in serve
    flat = " ".join(serve.split())
    assert "HTTP and websocket port (0: any free port) (default 8080) [env FANOUT_HTTP_PORT]" in flat
    assert "(default 1048576) [env FANOUT_MAX_BUFFER]" in flat
    assert "--parent-pid" not in serve


def test_token_refuses_an_empty_secret_and_a_negative_ttl():
    assert refused(run("token", "--token-secret", "", "--sub", "ann")) == \
        "fanout token: error: --token-secret must not be empty (the secret fanout serve checks with) " \
        "(see fanout token --help)"
    assert refused(run("token", "--token-secret", "s", "--sub", "ann", "--ttl", "-5")) == \
        "fanout token: error: --ttl must be a whole number of seconds of at least 1, got '-5' " \
        "(see fanout token --help)"
    result = run("token", "--token-secret", "s", "--sub", "ann", "--ttl", "60")
    assert result.returncode == 0 and result.stdout.count(".") == 2


def test_repeated_channel_rules_from_flags_and_from_the_environment():
    import json
    import urllib.error
    import urllib.request

    def history_status(port: int, channel: str) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/history/{channel}", timeout=5) as response:
                json.loads(response.read())
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    for args, env in ((("--channel", "a:*=history:5", "--channel", "b:*=presence"), {}),
                      ((), {"FANOUT_CHANNEL": "a:*=history:5 b:*=presence"})):
        server = start_fanout("serve", "--http-port", "0", "--resp-port", "-1", *args, env=env)
        try:
            assert history_status(server.port, "a:1") == 200
            assert history_status(server.port, "b:1") == 404  # presence only
            assert history_status(server.port, "chat:1") == 404  # the default rule was replaced
        finally:
            server.stop()


def test_demo_feed_flags_are_checked_too():
    assert refused(run("demo-feed", "--port", "70000")) == \
        "fanout demo-feed: error: --port must be a port from 0 to 65535, got '70000' (see fanout demo-feed --help)"
    assert refused(run("demo-feed", "--interval", "0")) == \
        "fanout demo-feed: error: --interval must be a number of seconds greater than 0, got '0' " \
        "(see fanout demo-feed --help)"
