"""Where the engine keeps what must survive a restart (configuration keys, transactions).

The HA layer provides its own implementation on top of ``helpers.storage``; the simulator and
the tests use ``JsonDirectoryStorage``, which writes each document atomically and fsyncs it so a
SIGKILL never leaves a half-written file.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any, Protocol


class EngineStorage(Protocol):
    async def async_load(self, key: str) -> Any | None:
        """The document saved under ``key``, or None."""

    async def async_save(self, key: str, data: Any) -> None:
        """Persist ``data`` under ``key``; returns once it is durable."""


class MemoryStorage:
    """Keeps documents in memory (a copy, so callers cannot mutate what was saved)."""

    def __init__(self) -> None:
        self.documents: dict[str, str] = {}

    async def async_load(self, key: str) -> Any | None:
        raw = self.documents.get(key)
        return None if raw is None else json.loads(raw)

    async def async_save(self, key: str, data: Any) -> None:
        self.documents[key] = json.dumps(data)


class JsonDirectoryStorage:
    """One JSON file per key in a directory; writes are atomic and fsynced off the event loop."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._lock = asyncio.Lock()

    def _path(self, key: str) -> Path:
        if not key.replace("_", "").isalnum():
            raise ValueError(f"invalid storage key {key!r}")
        return self.directory / f"{key}.json"

    async def async_load(self, key: str) -> Any | None:
        return await asyncio.get_running_loop().run_in_executor(None, self._load, key)

    async def async_save(self, key: str, data: Any) -> None:
        text = json.dumps(data, indent=1, sort_keys=True)
        async with self._lock:
            await asyncio.get_running_loop().run_in_executor(None, self._save, key, text)

    def _load(self, key: str) -> Any | None:
        try:
            return json.loads(self._path(key).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def _save(self, key: str, text: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(key)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
