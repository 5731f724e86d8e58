"""Tool results kept on disk in the world directory, so a fresh process answers from what an
earlier process computed on the same warehouse with the same code.

One JSON file per (tool, canonical arguments) under WORLD/.cache/results/, holding the tool's
output as JSON, the tool calls it made itself (each conversation that reuses the result replays
them as its own evidence), and the keys the result is valid for: the warehouse's file stamp
(`data.warehouse.warehouse_fingerprint`), the code version (`code_version`) and the format. Reading
parses JSON and checks those keys; the caller validates the output with the tool's pydantic
model. Nothing in a file is executed (no pickle): a world directory may be shared. A file that
does not parse, is too large, or names another warehouse, code version, tool or arguments is
ignored, and replaced when the result is computed again.

Safe under concurrent processes: an entry is written to a temporary file and renamed into place
(readers see the old file or the new one, never half of one); two processes computing the same
entry write the same content. Bounded: at a process's first write and every PRUNE_EVERY writes
after, a store beyond MAX_STORE_ENTRIES files or MAX_STORE_BYTES is cut to 90% of both, least
recently used entries first (file modification time, touched on every hit). The 10% headroom
takes the writes between two prunings (listing a full store costs ~13 ms, too much for every
write of a diagnosis).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

STORE_DIR = Path(".cache") / "results"  # in the world directory
FORMAT = 1
# Bounds of one world's store. A diagnosis of the demo incident writes ~30 entries, ~0.2 MB.
MAX_STORE_ENTRIES = 4096
MAX_STORE_BYTES = 64 * 2**20
MAX_ENTRY_BYTES = 4 * 2**20  # larger entries are neither written nor read
STALE_TEMPORARY_S = 600  # a temporary file this old belongs to a writer that died
PRUNE_EVERY = 16  # writes of one process between two prunings
PRUNED_TO = 0.9  # share of the bounds a pruning leaves
# What a tool's result can depend on besides the warehouse and its arguments: the source of the
# layers a tool may import, and the libraries that fit, explain and query.
CODE_PACKAGES = ("tools", "analytics", "data")
LIBRARIES = (
    "numpy", "pandas", "scipy", "scikit-learn", "shap", "statsmodels", "duckdb", "pydantic",
    "pyarrow", "threadpoolctl",
)  # fmt: skip


class ResultStoreSettings(BaseSettings):
    """CXAGENT_RESULT_CACHE: keep tool results in WORLD/.cache/results (on by default)."""

    model_config = SettingsConfigDict(env_prefix="CXAGENT_", extra="ignore")

    result_cache: bool = Field(
        default=True,
        description="keep tool results on disk in the world directory, keyed by the warehouse "
        "file and the code (off: every process computes its own)",
    )


@functools.cache
def code_version() -> str:
    """A hash of the source of CODE_PACKAGES, the Python version and LIBRARIES' versions: a
    result stored by other code is not served."""
    digest = hashlib.sha256(sys.version.encode())
    root = Path(__file__).resolve().parent.parent
    for package in CODE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    for library in LIBRARIES:
        try:
            version = metadata.version(library)
        except metadata.PackageNotFoundError:
            version = "absent"
        digest.update(f"\0{library}={version}".encode())
    return digest.hexdigest()


class ResultStore:
    """One world's stored tool results (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.writes = 0

    @classmethod
    def open(cls, world_dir: Path) -> ResultStore | None:
        """The world's store, or None where it cannot be kept (a read-only or missing world
        directory, a store directory that is a symbolic link)."""
        directory = Path(world_dir) / STORE_DIR
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
        linked = any(part.is_symlink() for part in (directory.parent, directory))
        if linked or not os.access(directory, os.W_OK | os.X_OK):
            return None
        return cls(directory)

    def read(self, stamp: str, tool: str, arguments: str) -> dict[str, Any] | None:
        """The stored entry's payload for this warehouse stamp, tool and arguments, or None
        (absent, unreadable, not JSON, too large, or stored for another key)."""
        path = self._path(stamp, tool, arguments)
        try:
            descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return None
        try:
            with os.fdopen(descriptor, "rb") as file:
                text = file.read(MAX_ENTRY_BYTES + 1)
        except OSError:
            return None
        if len(text) > MAX_ENTRY_BYTES:
            return None
        try:
            entry = json.loads(text)
        except ValueError:  # not JSON (a torn or foreign file): computed again
            return None
        expected = self._header(stamp, tool, arguments)
        if not isinstance(entry, dict) or any(entry.get(k) != v for k, v in expected.items()):
            return None
        payload = entry.get("payload")
        if not isinstance(payload, dict):
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: the last to be pruned
        return payload

    def write(self, stamp: str, tool: str, arguments: str, payload: dict[str, Any]) -> bool:
        """Store a payload (JSON-serializable, NaN and infinities allowed) atomically; False
        when it is too large or cannot be written."""
        entry = {**self._header(stamp, tool, arguments), "payload": payload}
        data = json.dumps(entry, separators=(",", ":")).encode()  # keeps the order of keys
        if len(data) > MAX_ENTRY_BYTES:
            return False
        try:
            descriptor, temporary = tempfile.mkstemp(
                dir=self.directory, prefix=".tmp-", suffix=".json"
            )
        except OSError:
            return False
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
            os.replace(temporary, self._path(stamp, tool, arguments))
        except OSError:
            Path(temporary).unlink(missing_ok=True)
            return False
        self.writes += 1
        if (self.writes - 1) % PRUNE_EVERY == 0:  # the first write, then every PRUNE_EVERY
            self.prune()
        return True

    def prune(self) -> None:
        """Over the bounds, delete the least recently used entries down to PRUNED_TO of them;
        and temporary files of writers that died. Another process pruning at the same time is
        harmless."""
        entries: list[tuple[float, int, str]] = []
        try:
            with os.scandir(self.directory) as listing:
                for item in listing:
                    try:
                        status = item.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if item.name.startswith(".tmp-"):
                        if time.time() - status.st_mtime > STALE_TEMPORARY_S:
                            _remove(item.path)
                    elif item.name.endswith(".json"):
                        entries.append((status.st_mtime, status.st_size, item.path))
        except OSError:
            return
        total = sum(size for _, size, _ in entries)
        if len(entries) <= MAX_STORE_ENTRIES and total <= MAX_STORE_BYTES:
            return
        entries.sort()
        keep_entries, keep_bytes = MAX_STORE_ENTRIES * PRUNED_TO, MAX_STORE_BYTES * PRUNED_TO
        while entries and (len(entries) > keep_entries or total > keep_bytes):
            _, size, path = entries.pop(0)
            _remove(path)
            total -= size

    def _header(self, stamp: str, tool: str, arguments: str) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "code": code_version(),
            "warehouse": stamp,
            "tool": tool,
            "arguments": arguments,
        }

    def _path(self, stamp: str, tool: str, arguments: str) -> Path:
        key = "\0".join((str(FORMAT), code_version(), stamp, tool, arguments))
        name = hashlib.sha256(key.encode()).hexdigest()[:40]
        return self.directory / f"{tool}-{name}.json"


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
