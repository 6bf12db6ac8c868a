"""Types of ``kubeutil``, the Datadog Agent's in-memory module as the pyhost
engine provides it (pyhost has no kubelet connection)."""

from typing import Any

def get_connection_info() -> dict[str, Any]: ...
