"""gateway/errors.py: one catalogue of error codes, the one exception mapping (issue #16)."""

from __future__ import annotations

import re
from pathlib import Path

from broker.backend import BackendUnavailable, OutcomeUnknown
from broker.resp import CommandError
from gateway import errors

ROOT = Path(__file__).resolve().parents[2]


def _readme_codes() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("### Error codes\n", 1)[1].split("\n### ", 1)[0]
    return re.findall(r"^\| `([a-z_]+)` \|", section, re.M)


def test_readme_lists_exactly_the_codes():
    listed = _readme_codes()
    assert len(listed) == len(set(listed)), "a code is listed twice"
    assert set(listed) == errors.CODES


def test_every_code_is_a_constant_with_its_line():
    source = (ROOT / "gateway" / "errors.py").read_text().splitlines()
    constants = [(index, line) for index, line in enumerate(source) if re.match(r'^[A-Z_]+ = "[a-z_]+"$', line)]
    assert len(constants) == len(errors.CODES)
    for index, line in constants:
        assert source[index - 1].startswith("# "), f"no comment line above {line}"
        name, value = line.split(" = ")
        assert value.strip('"') == name.lower()


def test_the_broker_links_failures_map_to_one_answer_each():
    assert errors.failure(OutcomeUnknown("no reply in 5s")) == (504, "outcome_unknown",
                                                                "the broker did not answer: no reply in 5s")
    assert errors.failure(BackendUnavailable("connection refused")) == (503, "unavailable",
                                                                        "the broker is unavailable: connection refused")
    assert errors.failure(CommandError("WRONGTYPE Operation against a key holding the wrong kind of value")) == (
        500, "broker_error", "the broker refused: WRONGTYPE Operation against a key holding the wrong kind of value")
    assert errors.failure(ValueError("ours")) is None
