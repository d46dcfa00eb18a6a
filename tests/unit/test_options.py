"""gateway/options.py: sizes as Redis reads them, ranges, TOML keys (issue #17)."""

from __future__ import annotations

import dataclasses

import pytest

from gateway import cli
from gateway.options import OPTIONS, SETTINGS, Kind, OptionError, check_file_keys, parse_size
from gateway.serve import settings_from_args
from gateway.settings import GatewaySettings

BY_NAME = {option.name: option for option in OPTIONS}


@pytest.mark.parametrize("text, value", [("0", 0), ("512", 512), ("1b", 1), ("1k", 1000), ("1kb", 1024),
                                         ("64KB", 65536), ("2m", 2_000_000), ("1mb", 1 << 20),
                                         ("1g", 10 ** 9), ("1gb", 1 << 30), (" 3mb ", 3 << 20)])
def test_sizes_as_redis_memtoll_reads_them(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "mb", "1.5mb", "-1", "1tb", "1 mb", "0x10"])
def test_sizes_refused(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_port_ranges():
    http, resp = BY_NAME["http-port"], BY_NAME["resp-port"]
    assert http.parse("0") == 0 and http.parse("65535") == 65535
    with pytest.raises(OptionError) as exc:
        http.parse("-1")
    assert str(exc.value) == "--http-port must be a port from 0 to 65535, got '-1'"
    assert resp.parse("-1") == -1
    with pytest.raises(OptionError) as exc:
        resp.parse(65536, "FANOUT_RESP_PORT")
    assert str(exc.value) == "FANOUT_RESP_PORT must be a port from -1 to 65535 (-1: do not listen), got 65536"


def test_durations_must_be_positive_and_finite():
    ping = BY_NAME["ping-interval"]
    assert ping.parse("0.5") == 0.5
    for bad in ("0", "-2", "nan", "inf", "soon"):
        with pytest.raises(OptionError) as exc:
            ping.parse(bad)
        assert str(exc.value) == f"--ping-interval must be a number of seconds greater than 0, got {bad!r}"
    assert BY_NAME["shutdown-timeout"].parse("0") == 0  # "do not wait" is a choice


def test_toml_types_are_checked():
    size = BY_NAME["max-buffer"]
    assert size.parse("64kb") == 65536 and size.parse(4096) == 4096
    with pytest.raises(OptionError) as exc:
        BY_NAME["http-port"].parse(True, "fanout.toml: http-port")
    assert str(exc.value) == "fanout.toml: http-port must be a port from 0 to 65535, got True"
    with pytest.raises(OptionError) as exc:
        BY_NAME["channel"].parse([1], "fanout.toml: channel")
    assert str(exc.value) == "fanout.toml: channel must be a list of strings, got [1]"


def test_file_keys_unknown_near_miss_table_and_other_command():
    assert check_file_keys({"http-port": 1, "max_buffer": "1mb"}, "serve", "f.toml") == \
        {"http_port": 1, "max_buffer": 1 << 20}
    with pytest.raises(OptionError) as exc:
        check_file_keys({"http-prot": 18093}, "serve", "f.toml")
    assert str(exc.value) == "f.toml: unknown key 'http-prot' (did you mean 'http-port'?)"
    with pytest.raises(OptionError) as exc:
        check_file_keys({"colour": "blue"}, "serve", "f.toml")
    assert str(exc.value) == "f.toml: unknown key 'colour'"
    with pytest.raises(OptionError) as exc:
        check_file_keys({"server": {"http-port": 1}}, "serve", "f.toml")
    assert str(exc.value) == "f.toml: unknown table [server] (settings are top-level keys, e.g. http-port = 8080)"
    with pytest.raises(OptionError) as exc:
        check_file_keys({"http-port": 1}, "broker", "f.toml")
    assert str(exc.value) == "f.toml: 'http-port' is not a setting of fanout broker"
    with pytest.raises(OptionError) as exc:  # set by fanout itself for its workers
        check_file_keys({"parent-pid": 1}, "serve", "f.toml")
    assert str(exc.value) == "f.toml: unknown key 'parent-pid'"


def test_every_option_has_help_and_env_name():
    for option in OPTIONS:
        if option.hidden:
            continue
        assert option.help and "`" not in option.help
        if option.name != "config":
            assert f"[env FANOUT_{option.dest.upper()}]" in option.help_text()


def test_a_flag_added_outside_the_table_still_gets_its_env_and_toml_key(tmp_path):
    """Merged work may add a flag with a plain add_argument: it must not become a TOML
    error or lose its FANOUT_* variable until it is declared in OPTIONS."""
    from gateway import cli

    parser = cli.build_parser()
    serve = parser._subparsers._group_actions[0].choices["serve"]
    serve.add_argument("--save-seconds", type=int, default=0, help="a late flag")
    config = tmp_path / "f.toml"
    config.write_text("save-seconds = 7\n")
    argv = ["serve", "--config", str(config)]
    args = parser.parse_args(argv)
    cli._apply_env_and_file(parser, args, argv, environ={})
    assert args.save_seconds == 7
    args = parser.parse_args(argv)
    cli._apply_env_and_file(parser, args, argv, environ={"FANOUT_SAVE_SECONDS": "9"})
    assert args.save_seconds == 9
    with pytest.raises(SystemExit):
        cli._apply_env_and_file(parser, parser.parse_args(argv), argv, environ={"FANOUT_SAVE_SECONDS": "x"})


def test_every_gateway_setting_is_one_option_with_its_default():
    """GatewaySettings' fields and the table's settings are the same names, and each
    option's default is the field's (written once, in gateway/state.py)."""
    fields = {field.name: field.default for field in dataclasses.fields(GatewaySettings)}
    assert sorted(option.dest for option in SETTINGS) == sorted(fields)
    for option in SETTINGS:
        if option.kind is not Kind.LIST:  # --channel: None, so argparse's append starts empty
            assert option.default == fields[option.dest], option.name


def test_settings_from_the_command_line():
    parser = cli.build_parser()
    assert settings_from_args(parser.parse_args(["serve"])) == GatewaySettings()
    settings = settings_from_args(parser.parse_args(["serve", "--max-buffer", "64kb", "--op-rate", "5",
                                                     "--channel", "a:*=presence", "--channel", "b:*=history"]))
    assert settings == GatewaySettings(max_buffer=65536, op_rate=5.0, channel=("a:*=presence", "b:*=history"))
