"""Python-side helpers of the pyhost engine's check layer (``_pyhost_checks``).

Picks a check's class in a loaded module. Which classes count as check base
classes is registered by the layers above (``add_base``): the pyhost SDK's
``AgentCheck``, datadog_checks_base's.
"""

import importlib
import os
import sys
import weakref

import _pyhost_host

# (module name, whether to import it when nothing has yet)
_base_modules = []


def add_base(module_name, import_if_missing):
    """Count ``module_name.AgentCheck`` as a check base class."""
    _base_modules.append((module_name, import_if_missing))


def _check_bases():
    bases = []
    for module_name, import_if_missing in _base_modules:
        module = sys.modules.get(module_name)
        if module is None and import_if_missing:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
        if module is None:
            continue
        base = getattr(module, "AgentCheck", None)
        if isinstance(base, type):
            bases.append(base)
    return tuple(bases)


def pick_class(module, class_name):
    """The named class, or the single check class of the module: the
    AgentCheck subclass that has no subclass of its own there."""
    if class_name:
        cls = getattr(module, class_name, None)
        if not isinstance(cls, type):
            raise LookupError(f"module {module.__name__!r} has no class {class_name!r}")
        return cls
    bases = _check_bases()
    if not bases:
        raise ImportError("no AgentCheck base class is importable (is the pyhost SDK installed?)")
    candidates = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, bases) and obj not in bases
    ]
    leaves = [c for c in candidates if not any(o is not c and issubclass(o, c) for o in candidates)]
    if not leaves:
        raise LookupError(f"module {module.__name__!r} defines no AgentCheck subclass")
    if len(leaves) > 1:
        # Base classes it imported (OpenMetricsBaseCheckV2, ...) are not its check.
        prefix = module.__name__ + "."
        own = [
            c for c in leaves if c.__module__ == module.__name__ or c.__module__.startswith(prefix)
        ]
        if len(own) == 1:
            return own[0]
    if len(leaves) > 1:
        names = ", ".join(sorted(c.__name__ for c in leaves))
        raise LookupError(
            f"module {module.__name__!r} has several check classes ({names}); name one"
        )
    return leaves[0]


def _module_file(module_name):
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    return os.path.abspath(path) if path else None


# own_code's answers by class: every instance of a class shares one tuple.
_own_code = weakref.WeakKeyDictionary()


def own_code(check):
    """Where the check's own code lives, as file-name prefixes: for each class
    in its hierarchy that is not a check base class's (pyhost's,
    datadog_checks_base's) nor Python's, its module's file, or the module's
    package directory when it is part of a package. A cancellation raises
    only there (see the engine's check/cancel.rs)."""
    cls = type(check)
    try:
        return _own_code[cls]
    except (KeyError, TypeError):
        pass
    roots = _own_code_of(cls)
    try:
        _own_code[cls] = roots
    except TypeError:  # a class that cannot be weakly referenced
        pass
    return roots


def _own_code_of(check_class):
    bases = tuple(name for name, _ in _base_modules)
    roots = []
    for cls in check_class.__mro__:
        name = cls.__module__
        if name == "builtins" or any(name == b or name.startswith(b + ".") for b in bases):
            continue
        path = _module_file(name)
        if path is None:
            continue
        if "." in name:
            # A module of a package (datadog_checks.NAME.check): the package's files.
            root = os.path.dirname(path) + os.sep
        else:
            root = path
        if root not in roots:
            roots.append(root)
    return tuple(roots)


def load_check_class(source, class_name):
    module = _pyhost_host.loaded(lambda: _pyhost_host.load_module(source))
    return pick_class(module, class_name)


# A check's log records carry its id as ``check_id``.
_pyhost_host.add_record_id("check_id")
