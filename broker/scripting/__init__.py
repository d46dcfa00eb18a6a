"""Lua scripting: EVAL/EVALSHA scripts and FUNCTION libraries, as Redis 7.0 runs them.

Layout: ``prelude`` is the Lua side of the sandbox (globals locking, the
``redis`` table, error handler, runaway hook); ``engine`` the interpreter
(``Sandbox``: lupa's Lua 5.1) and what ``redis.call`` does; ``convert`` the
replies both ways; ``evalcache`` the SHA1 script cache; ``functions`` the
FUNCTION libraries. ``broker/commands/scripting.py`` holds the commands.

``scripting_of(broker)`` makes the broker's scripting state on first use, so a
broker that never runs a script never starts an interpreter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from broker.core import Broker
    from broker.scripting.evalcache import EvalScripts
    from broker.scripting.functions import Functions

__all__ = ["Scripting", "scripting_of"]


class Scripting:
    """A broker's scripts: the EVAL cache and the function libraries, each in its
    own interpreter (as Redis keeps functions apart from EVAL's Lua state, so
    SCRIPT FLUSH leaves functions alone)."""

    def __init__(self, broker: "Broker") -> None:
        from broker.scripting.engine import Sandbox, ScriptClient
        from broker.scripting.evalcache import EvalScripts
        from broker.scripting.functions import Functions

        self.broker = broker
        self.client = ScriptClient(broker)
        self.eval: "EvalScripts" = EvalScripts(Sandbox(broker, self.client))
        self.functions: "Functions" = Functions(Sandbox(broker, self.client))
        broker.config.listeners.append(self._config_changed)

    def _config_changed(self, name: str, value: str) -> None:
        if name == "lua-max-memory":
            self.eval.sandbox.set_max_memory(int(value))
            self.functions.sandbox.set_max_memory(int(value))


def scripting_of(broker: "Broker") -> Scripting:
    """The broker's scripting state, made on first use."""
    state: Any = getattr(broker, "scripting", None)
    if state is None:
        state = Scripting(broker)
        broker.scripting = state  # type: ignore[attr-defined]
    return state  # type: ignore[no-any-return]
