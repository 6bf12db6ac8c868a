"""pyhost: write Python checks for the pyhost agent.

Subclass :class:`AgentCheck`, override :meth:`AgentCheck.check` and submit data with
the submission methods (``gauge``, ``rate``, ``service_check``...).
"""

from __future__ import annotations

from pyhost._host import CheckCancelled
from pyhost.checks import CRITICAL, OK, UNKNOWN, WARNING, AgentCheck

__version__ = "0.1.0"

__all__ = ["CRITICAL", "OK", "UNKNOWN", "WARNING", "AgentCheck", "CheckCancelled", "__version__"]
