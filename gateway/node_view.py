"""With ``--workers N``: answers for the whole node, gathered from every worker.

The kernel hands each HTTP request to one worker (SO_REUSEPORT), which alone knows
only its own connections. So each worker also serves its app on a private unix
socket in the supervisor's directory (``worker-<i>.sock``, mode 0700 directory),
and the worker that takes ``/healthz``, ``/metrics``, ``/api/channels`` or
``/api/subscriptions`` asks its siblings there (with ``X-Fanout-Local: 1``, so they
answer for themselves) and merges:

- counts per channel, pattern or watched key are summed over the workers;
- ``/metrics`` keeps each worker's samples with a ``worker="<i>"`` label (a sum of
  gauges such as ``fanout_channels`` would count a channel followed by two workers
  twice; Prometheus sums the rest with ``sum by``); samples that are the node's
  alone (``fanout_broker_publishes_total``, the supervisor's broker's count, read
  with ``INFO stats``) follow unlabelled, once.

The merge functions are pure (text or dicts in, text or dicts out).
"""

from __future__ import annotations

import asyncio
import glob
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["LOCAL_HEADER", "broker_socket", "merge_counts", "merge_metrics", "socket_path", "worker_sockets", "fetch_all"]

# Set on a sibling's request: answer for yourself, do not gather again.
LOCAL_HEADER = "X-Fanout-Local"
# A sibling slower than this is reported as not answering (it may be restarting).
FETCH_TIMEOUT = 1.0

_SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})?(\s.*)$")


def broker_socket(directory: str) -> str:
    """The supervisor's embedded broker's unix socket in ``directory``, which its
    workers use as their broker (``--broker unix://<this>``)."""
    return os.path.join(directory, "broker.sock")


def socket_path(directory: str, index: int) -> str:
    return os.path.join(directory, f"worker-{index}.sock")


def worker_sockets(directory: str) -> dict[int, str]:
    """index -> socket path of every worker that has listened in ``directory``."""
    found = {}
    for path in glob.glob(os.path.join(directory, "worker-*.sock")):
        name = os.path.basename(path)[len("worker-"):-len(".sock")]
        if name.isdigit():
            found[int(name)] = path
    return dict(sorted(found.items()))


def merge_counts(parts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """{name: count} maps summed name by name."""
    total: dict[str, int] = {}
    for part in parts:
        for name, count in part.items():
            total[name] = total.get(name, 0) + count
    return total


def merge_metrics(texts: Mapping[int, str]) -> str:
    """Prometheus text of several workers as one exposition: each family once (its
    HELP and TYPE from the first worker that has it), each sample labelled with its
    worker, families in first-seen order (the format wants a family's lines together).

    Args:
        texts: worker index -> that worker's /metrics text.
    """
    families: dict[str, dict[str, list[str]]] = {}
    for worker, text in texts.items():
        family: dict[str, list[str]] | None = None
        for line in text.splitlines():
            if line.startswith("# HELP ") or line.startswith("# TYPE "):
                name = line.split(" ", 3)[2]
                family = families.setdefault(name, {"meta": [], "samples": []})
                if len(family["meta"]) < 2 and line not in family["meta"]:
                    family["meta"].append(line)
                continue
            match = _SAMPLE.match(line)
            if match is None or family is None:
                continue
            labels = match.group(2)
            label = f'worker="{worker}"'
            labelled = "{" + label + ("," + labels[1:] if labels and labels != "{}" else "}")
            family["samples"].append(match.group(1) + labelled + match.group(3))
    out: list[str] = []
    for family in families.values():
        out.extend(family["meta"])
        out.extend(family["samples"])
    return "\n".join(out) + "\n"


async def fetch_all(directory: str, own: int, path: str, authorization: str | None) -> dict[int, Any]:
    """GET ``path`` from every other worker's socket: index -> body (JSON or text),
    or None for a worker that did not answer (restarting, stopped).

    Args:
        directory: the supervisor's directory of worker sockets.
        own: this worker's index (skipped: the caller answers for itself).
        path: e.g. "/metrics".
        authorization: the caller's Authorization header, passed on (the siblings check it too).
    """
    import aiohttp

    async def one(socket: str) -> Any:
        headers = {LOCAL_HEADER: "1"}
        if authorization:
            headers["Authorization"] = authorization
        try:
            async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=socket),
                                             timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT)) as session:
                async with session.get(f"http://worker{path}", headers=headers) as response:
                    if response.status != 200:
                        return None
                    if response.content_type == "application/json":
                        return await response.json()
                    return await response.text()
        except (aiohttp.ClientError, OSError, TimeoutError):
            return None

    sockets = {index: socket for index, socket in worker_sockets(directory).items() if index != own}
    results = await asyncio.gather(*(one(socket) for socket in sockets.values()))
    return dict(zip(sockets, results))
