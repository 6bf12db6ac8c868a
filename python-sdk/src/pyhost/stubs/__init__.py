"""Pure-Python stand-ins for the host's in-memory modules.

Inside the agent, the host provides the native ``aggregator``, ``datadog_agent`` and
``_pyhost`` modules. Everywhere else (unit tests, a plain interpreter) these stubs are
used instead: they validate arguments exactly like the native modules and record what
was submitted so tests can assert on it.
"""
