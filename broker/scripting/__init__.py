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

__all__ = ["Scripting", "scripting_of", "memory_info"]


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


def memory_info(broker: "Broker") -> list[tuple[str, object]]:
    """INFO memory's scripting fields, in Redis 7.0's order.

    The Lua figures are each interpreter's own count (``collectgarbage('count')``);
    the caches' are the scripts' and libraries' code plus a per-entry overhead of the
    size Redis counts (its dict entry and SHA string), an estimate, not a measure of
    Python's objects. A broker that never ran a script reports 0 (no interpreter).
    """
    state: Any = getattr(broker, "scripting", None)
    if state is None:
        vm_eval = vm_functions = scripts_eval = functions_mem = cached = functions = libraries = 0
    else:
        vm_eval = state.eval.sandbox.memory_used()
        vm_functions = state.functions.sandbox.memory_used()
        scripts = state.eval.scripts
        cached = len(scripts)
        scripts_eval = sum(len(script.body) + _SCRIPT_ENTRY for script in scripts.values())
        functions = len(state.functions.functions)
        libraries = len(state.functions.libraries)
        functions_mem = sum(len(library.code) + _LIBRARY_ENTRY + _FUNCTION_ENTRY * len(library.functions)
                            for library in state.functions.libraries.values())
    return [
        ("used_memory_lua", vm_eval), ("used_memory_vm_eval", vm_eval),
        ("used_memory_lua_human", _human(vm_eval)), ("used_memory_scripts_eval", scripts_eval),
        ("number_of_cached_scripts", cached), ("number_of_functions", functions),
        ("number_of_libraries", libraries), ("used_memory_vm_functions", vm_functions),
        ("used_memory_vm_total", vm_eval + vm_functions),
        ("used_memory_vm_total_human", _human(vm_eval + vm_functions)),
        ("used_memory_functions", functions_mem), ("used_memory_scripts", scripts_eval + functions_mem),
        ("used_memory_scripts_human", _human(scripts_eval + functions_mem)),
    ]


# What Redis counts per cached script beyond its body (dict entry, SHA sds, robj), per
# library and per function (their structs and names): the estimate memory_info adds.
_SCRIPT_ENTRY = 104
_LIBRARY_ENTRY = 96
_FUNCTION_ENTRY = 88


def _human(value: int) -> str:
    """bytesToHuman: 1023B, 1.00K, 251.00K, 1.50M ..."""
    for unit, size in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if value >= size:
            return f"{value / size:.2f}{unit}"
    return f"{value}B"
