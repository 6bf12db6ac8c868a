"""Types of ``containers``, the Datadog Agent's in-memory module as the pyhost
engine provides it (pyhost has no container filter)."""

def is_excluded(name: str, image: str, namespace: str = ..., /) -> bool: ...
