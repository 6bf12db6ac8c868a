"""Operator notes kept in the agent's store, with commands to manage them, and
a ``serve`` loop that expires old notes.

    pyhost-agent module command notes add --key disk --text "replace sdb" --ttl 3600
    pyhost-agent module command notes list
"""

from __future__ import annotations

import enum
import json
import time

import pyhost


class Order(enum.Enum):
    KEY = "key"
    NEWEST = "newest"


class Module(pyhost.Module):
    MODULE_OPTIONS = [
        pyhost.Option(
            "sweep_interval", type="secs", default="60s", min=1, desc="how often old notes expire"
        ),
        pyhost.Option("max_notes", type="uint", default=100, min=1, max=10000),
    ]

    def serve(self) -> None:
        while not self.wait_for_shutdown(self.get_option("sweep_interval")):
            self.expire()

    def expire(self) -> int:
        now = time.time()
        expired = 0
        for key, raw in self.get_store_prefix("note/").items():
            note = json.loads(raw)
            if note["expires"] is not None and note["expires"] <= now:
                self.set_store(key, None)
                expired += 1
        if expired:
            self.log.info("expired %d note(s)", expired)
        return expired

    @pyhost.command
    def add(self, key: str, text: str, ttl: int | None = None) -> dict:
        """Adds (or replaces) the note KEY; it expires after TTL seconds if given."""
        if not key or "/" in key:
            raise ValueError("a note key is a non-empty name without '/'")
        if ttl is not None and ttl <= 0:
            raise ValueError("ttl must be more than 0 seconds")
        if f"note/{key}" not in self.get_store_prefix("note/") and len(
            self.get_store_prefix("note/")
        ) >= self.get_option("max_notes"):
            raise ValueError(f"already {self.get_option('max_notes')} notes (max_notes)")
        note = {"text": text, "added": time.time(), "expires": time.time() + ttl if ttl else None}
        self.set_store(f"note/{key}", json.dumps(note))
        return {"key": key, **note}

    @pyhost.command
    def remove(self, key: str) -> bool:
        """Removes the note KEY; false if there was none."""
        existed = self.get_store(f"note/{key}") is not None
        self.set_store(f"note/{key}", None)
        return existed

    @pyhost.command(name="list")
    def list_notes(self, order: Order = Order.KEY, limit: int = 50) -> list[dict]:
        """The notes, by key or newest first."""
        notes = [
            {"key": k[len("note/") :], **json.loads(v)}
            for k, v in self.get_store_prefix("note/").items()
        ]
        if order is Order.NEWEST:
            notes.sort(key=lambda n: n["added"], reverse=True)
        return notes[:limit]
