"""Modules' key-value store: one SQLite database, a table keyed by (module, key).

The agent keeps it at ``<run_dir>/modules.db``; tests use ``":memory:"``. Every
write is committed at once (WAL journal), so what a module stored survives the
agent stopping at any moment. SQLite releases the GIL while it works.
"""

from __future__ import annotations

import sqlite3
import threading

__all__ = ["Store"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS module_store (
    module TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (module, key)
) WITHOUT ROWID
"""


class Store:
    """A module store over one SQLite database, safe to use from any thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        if path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    def get(self, module: str, key: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM module_store WHERE module = ? AND key = ?", (module, key)
            ).fetchone()
        return None if row is None else str(row[0])

    def set(self, module: str, key: str, value: str | None) -> None:
        with self._lock:
            if value is None:
                self._db.execute(
                    "DELETE FROM module_store WHERE module = ? AND key = ?", (module, key)
                )
            else:
                self._db.execute(
                    "INSERT INTO module_store (module, key, value) VALUES (?, ?, ?) "
                    "ON CONFLICT (module, key) DO UPDATE SET value = excluded.value",
                    (module, key, value),
                )

    def prefix(self, module: str, prefix: str) -> dict[str, str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, value FROM module_store WHERE module = ? AND substr(key, 1, ?) = ? "
                "ORDER BY key",
                (module, len(prefix), prefix),
            ).fetchall()
        return {str(k): str(v) for k, v in rows}

    def close(self) -> None:
        with self._lock:
            self._db.close()
