"""The pyhost SDK as the engine carries it (``_pyhost_sdk``).

The engine embeds the SDK's pure-Python sources, so ``import pyhost`` works in
whichever Python the engine runs, with or without the SDK installed. The
finder goes first on ``sys.meta_path``: the SDK a plugin imports is always the
one built with this engine, whose native half (``_pyhost``) it relies on.
"""

import importlib.abc
import importlib.machinery
import sys

ORIGIN = "<pyhost engine>"


class EmbeddedSDK(importlib.abc.MetaPathFinder, importlib.abc.InspectLoader):
    """Finds and loads the modules of the embedded ``pyhost`` package."""

    def __init__(self, sources):
        # {dotted name: (is a package, source)}
        self._sources = sources

    def _filename(self, fullname):
        path = fullname.replace(".", "/")
        if self._sources[fullname][0]:
            path += "/__init__"
        return f"{ORIGIN}/{path}.py"

    def find_spec(self, fullname, path=None, target=None):
        entry = self._sources.get(fullname)
        if entry is None:
            return None
        spec = importlib.machinery.ModuleSpec(
            fullname, self, origin=self._filename(fullname), is_package=entry[0]
        )
        return spec

    def is_package(self, fullname):
        return self._sources[fullname][0]

    def get_source(self, fullname):
        try:
            return self._sources[fullname][1]
        except KeyError:
            raise ImportError(f"{fullname} is not part of the embedded SDK", name=fullname) from None

    def get_code(self, fullname):
        # The file name tracebacks show; linecache reads the lines back
        # through get_source.
        return compile(self.get_source(fullname), self._filename(fullname), "exec", dont_inherit=True)

    def exec_module(self, module):
        module.__file__ = self._filename(module.__name__)
        exec(self.get_code(module.__name__), module.__dict__)


def install(sources):
    for finder in sys.meta_path:
        if isinstance(finder, EmbeddedSDK):
            return
    sys.meta_path.insert(0, EmbeddedSDK(sources))
