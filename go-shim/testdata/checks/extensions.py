import importlib
import json.decoder

from pyhost import AgentCheck

MODULES = ["_ctypes", "_json", "_ssl", "math", "zlib", "_socket", "_decimal", "_sqlite3"]


class ExtensionsCheck(AgentCheck):
    """Imports C extension modules; each needs libpython's symbols to be global."""

    def check(self, instance):
        for name in MODULES:
            try:
                importlib.import_module(name)
                self.gauge("extension.imported", 1, tags=[f"module:{name}"])
            except ImportError as e:
                self.warning("cannot import %s: %s", name, e)
        accelerated = json.decoder.c_scanstring is not None
        self.gauge("extension.json_accelerated", 1 if accelerated else 0)
