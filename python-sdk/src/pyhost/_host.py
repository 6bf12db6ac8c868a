"""The host's in-memory modules, or their pure-Python stand-ins outside the agent."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Typed as the host's modules (the SDK's *-stubs packages); the stand-ins
    # have the same signatures.
    import _pyhost
    import _pyhost_bridge as bridge
    import aggregator
    import datadog_agent
else:
    try:
        import aggregator
    except ImportError:
        from pyhost.stubs import aggregator

    try:
        import datadog_agent
    except ImportError:
        from pyhost.stubs import datadog_agent

    try:
        import _pyhost
    except ImportError:
        from pyhost.stubs import _pyhost

    try:
        import _pyhost_bridge as bridge
    except ImportError:
        from pyhost.stubs import _pyhost_bridge as bridge

__all__ = [
    "CheckCancelled",
    "GoError",
    "GoPanic",
    "NativeCheckBase",
    "aggregator",
    "bridge",
    "datadog_agent",
]

CheckCancelled = _pyhost.CheckCancelled
GoError = bridge.GoError
GoPanic = bridge.GoPanic

# The host's native base class for AgentCheck (submission methods without a Python
# frame per call); None outside the agent.
NativeCheckBase = getattr(_pyhost, "CheckBase", None)
