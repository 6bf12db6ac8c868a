"""Testing helpers for pyhost checks (the pytest plugin lives in ``plugin``)."""
