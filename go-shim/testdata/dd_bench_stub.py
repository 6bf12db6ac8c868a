"""The floor of the Datadog check benchmark: the same check run in plain
Python against datadog_checks_base's stub aggregator. Prints the median
nanoseconds per run over RUNS runs (the stub is reset between runs, untimed).

    python dd_bench_stub.py RUNS
"""

import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).parent / "checks"))

from datadog_checks.base.stubs import aggregator  # noqa: E402
from dd_bench import COUNT, DatadogBenchCheck  # noqa: E402


def main(runs):
    check = DatadogBenchCheck("dd_bench", {}, [{}])
    times = []
    for _ in range(runs):
        aggregator.reset()
        start = time.perf_counter_ns()
        error = check.run()
        times.append(time.perf_counter_ns() - start)
        if error or len(aggregator.metrics("bench.dd.value")) != COUNT:
            raise SystemExit(f"bad run: {error!r}")
    print(int(statistics.median(times)))


if __name__ == "__main__":
    main(int(sys.argv[1]))
