"""Redis 7's AOF manifest: which files make up the append-only log (sans-I/O).

The manifest ``<appendfilename>.manifest`` in ``appenddirname`` lists one file a
line, as ``aof.c`` writes it (``aofInfoFormat``)::

    file appendonly.aof.3.base.rdb seq 3 type b
    file appendonly.aof.2.incr.aof seq 2 type h
    file appendonly.aof.4.incr.aof seq 4 type i

``b`` is the base (a snapshot: RDB, or commands), ``i`` the incremental files appended
after it, in increasing ``seq``, ``h`` history files left by a rewrite, to be deleted.
The base comes first, then history, then the incrs. Names follow
``<appendfilename>.<seq>.base.rdb|aof`` and ``<appendfilename>.<seq>.incr.aof``.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

__all__ = ["AofFile", "Manifest", "ManifestError", "BASE", "HISTORY", "INCR"]

BASE, HISTORY, INCR = "b", "h", "i"


class ManifestError(ValueError):
    """A manifest that cannot be read (Redis exits with the same words)."""


@dataclass(slots=True)
class AofFile:
    name: str
    seq: int
    type: str

    def line(self) -> str:
        name = self.name if _plain(self.name) else '"%s"' % self.name.replace("\\", "\\\\").replace('"', '\\"')
        return f"file {name} seq {self.seq} type {self.type}\n"


def _plain(name: str) -> bool:
    return all(c.isalnum() or c in "._-" for c in name) and bool(name)


@dataclass(slots=True)
class Manifest:
    """The parsed manifest, with the sequence counters new file names come from."""

    filename: str = "appendonly.aof"
    base: AofFile | None = None
    history: list[AofFile] = field(default_factory=list)
    incrs: list[AofFile] = field(default_factory=list)
    base_seq: int = 0
    incr_seq: int = 0

    @classmethod
    def parse(cls, text: str, filename: str = "appendonly.aof") -> "Manifest":
        """Read a manifest as ``aofLoadManifestFromFile`` does.

        Raises:
            ManifestError: with Redis's message and the line it concerns.
        """
        manifest = cls(filename)
        lines = text.split("\n")
        if text == "":
            raise ManifestError("Found an empty AOF manifest")
        max_seq = 0
        for number, raw in enumerate(lines, 1):
            if number == len(lines) and raw == "":
                break
            if raw.startswith("#"):
                continue
            line = raw.strip(" \t\r\n")
            if not line:
                raise ManifestError(f"Invalid AOF manifest file format (line {number})")
            try:
                words = shlex.split(line)
            except ValueError:
                words = []
            if len(words) < 6 or len(words) % 2:
                raise ManifestError(f"Invalid AOF manifest file format (line {number})")
            name, seq, kind = None, 0, ""
            for i in range(0, len(words), 2):
                key, value = words[i].lower(), words[i + 1]
                if key == "file":
                    if "/" in value:
                        raise ManifestError(f"File can't be a path, just a filename (line {number})")
                    name = value
                elif key == "seq":
                    seq = int(value) if value.lstrip("-").isdigit() else 0
                elif key == "type":
                    kind = value[:1]
            if not name or not seq or not kind:
                raise ManifestError(f"Invalid AOF manifest file format (line {number})")
            entry = AofFile(name, seq, kind)
            if kind == BASE:
                if manifest.base is not None:
                    raise ManifestError("Found duplicate base file information")
                manifest.base = entry
                manifest.base_seq = seq
            elif kind == HISTORY:
                manifest.history.append(entry)
            elif kind == INCR:
                if seq <= max_seq:
                    raise ManifestError("Found a non-monotonic sequence number")
                manifest.incrs.append(entry)
                manifest.incr_seq = max_seq = seq
            else:
                raise ManifestError("Unknown AOF file type")
        return manifest

    def format(self) -> str:
        """The manifest text: base, then history, then incrs (``getAofManifestAsString``)."""
        entries = ([self.base] if self.base else []) + self.history + self.incrs
        return "".join(entry.line() for entry in entries)

    def copy(self) -> "Manifest":
        return Manifest(self.filename, None if self.base is None else AofFile(self.base.name, self.base.seq, BASE),
                        [AofFile(h.name, h.seq, h.type) for h in self.history],
                        [AofFile(i.name, i.seq, i.type) for i in self.incrs], self.base_seq, self.incr_seq)

    # ------------------------------------------------------------- changes

    def new_base(self, rdb: bool) -> str:
        """Name a new base; the old one becomes history (``getNewBaseFileNameAndMarkPreAsHistory``)."""
        if self.base is not None:
            self.base.type = HISTORY
            self.history.insert(0, self.base)
        self.base_seq += 1
        name = f"{self.filename}.{self.base_seq}.base.{'rdb' if rdb else 'aof'}"
        self.base = AofFile(name, self.base_seq, BASE)
        return name

    def new_incr(self) -> str:
        """Name a new incremental file, appended after the others."""
        self.incr_seq += 1
        name = f"{self.filename}.{self.incr_seq}.incr.aof"
        self.incrs.append(AofFile(name, self.incr_seq, INCR))
        return name

    def last_incr(self) -> str:
        """The incr file to append to (a new one when there is none)."""
        return self.incrs[-1].name if self.incrs else self.new_incr()

    def retire_incrs(self, keep_last: bool) -> None:
        """After a rewrite: the incrs it covers become history (``markRewrittenIncrAofAsHistory``)."""
        keep = self.incrs[-1:] if keep_last else []
        # from the newest back, each put first, as Redis walks its list from the tail
        for entry in reversed(self.incrs[:-1] if keep_last else self.incrs):
            self.history.insert(0, AofFile(entry.name, entry.seq, HISTORY))
        self.incrs = keep

    def files(self) -> list[AofFile]:
        """The files to load, in order: the base, then the incrs."""
        return ([self.base] if self.base else []) + self.incrs
