"""The pytest plugin is registered through the pytest11 entry point."""

from __future__ import annotations


def test_fixtures_reset_state_between_tests(pytester):
    pytester.makepyfile(
        """
        from pyhost import AgentCheck

        def test_first(aggregator, datadog_agent):
            datadog_agent.set_config("k", "v")
            AgentCheck("c", {}, [{}]).gauge("leftover", 1)
            aggregator.assert_metric("leftover", count=1)

        def test_second(aggregator, datadog_agent):
            assert aggregator.metric_names == []
            assert datadog_agent.get_config("k") is None
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)


def test_run_check_fixture(pytester):
    pytester.makepyfile(
        """
        from pyhost import AgentCheck

        class Good(AgentCheck):
            def check(self, instance):
                self.gauge("ok", 1)

        class Bad(AgentCheck):
            def check(self, instance):
                raise RuntimeError("exploded")

        def test_good(aggregator, run_check):
            run_check(Good("good", {}, [{}]))
            aggregator.assert_metric("ok")

        def test_bad(run_check):
            run_check(Bad("bad", {}, [{}]))
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*check 'bad' failed:*", "*RuntimeError: exploded*"])
