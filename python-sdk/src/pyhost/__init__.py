"""pyhost: write Python checks for the pyhost agent.

Subclass :class:`AgentCheck`, override :meth:`AgentCheck.check` and submit data with
the submission methods (``gauge``, ``rate``, ``service_check``...). Read the host's
state with :mod:`pyhost.host`; Go functions the host defines raise :class:`GoError`
and :class:`GoPanic`. Long-running modules subclass :class:`Module` (see
:mod:`pyhost.modules`); hot-path hooks are marked with :func:`dispatch` and
:func:`completion` (see :mod:`pyhost.hooks`).
"""

from __future__ import annotations

from pyhost import host
from pyhost._host import CheckCancelled, GoError, GoPanic
from pyhost.checks import CRITICAL, OK, UNKNOWN, WARNING, AgentCheck
from pyhost.hooks import completion, dispatch
from pyhost.modules import CommandArgumentError, Module, Option, OptionError, command

__version__ = "0.1.0"

__all__ = [
    "CRITICAL",
    "OK",
    "UNKNOWN",
    "WARNING",
    "AgentCheck",
    "CheckCancelled",
    "CommandArgumentError",
    "GoError",
    "GoPanic",
    "Module",
    "Option",
    "OptionError",
    "__version__",
    "command",
    "completion",
    "dispatch",
    "host",
]
