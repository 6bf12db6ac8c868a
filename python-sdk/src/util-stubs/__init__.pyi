"""Types of ``util``, the Datadog Agent's in-memory module as the pyhost
engine provides it."""

def headers(*args: object, **kwargs: object) -> dict[str, str]: ...
