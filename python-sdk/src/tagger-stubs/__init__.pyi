"""Types of ``tagger``, the Datadog Agent's in-memory module as the pyhost
engine provides it (pyhost has no tag source: every entity has no tags)."""

LOW: int
ORCHESTRATOR: int
HIGH: int

def tag(entity_id: str, cardinality: int, /) -> list[str]: ...
def get_tags(entity_id: str, high_card: int, /) -> list[str]: ...
