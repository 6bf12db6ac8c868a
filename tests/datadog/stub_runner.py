"""Runs a datadog_checks.base check in plain Python against
datadog_checks_base's own stub modules (no agent) and prints what it
submitted, in the shape of `pyhost-agent check NAME --json --raw`.

    python stub_runner.py CHECKS_DIR CONF_DIR NAME HOSTNAME
"""

import importlib.util
import inspect
import json
import pathlib
import sys

import yaml
from datadog_checks.base import AgentCheck
from datadog_checks.base.stubs import aggregator, datadog_agent

TYPES = ["gauge", "rate", "count", "monotonic_count", "counter", "histogram", "historate"]


def load_class(checks_dir, name):
    spec = importlib.util.spec_from_file_location(name, pathlib.Path(checks_dir) / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    classes = [
        c
        for c in vars(module).values()
        if inspect.isclass(c) and issubclass(c, AgentCheck) and c.__module__ == name
    ]
    leaves = [c for c in classes if not any(o is not c and issubclass(o, c) for o in classes)]
    assert len(leaves) == 1, leaves
    return leaves[0]


def error_type(traceback):
    last = traceback.strip().splitlines()[-1] if traceback.strip() else ""
    return last.split(":", 1)[0].strip()


def main(checks_dir, conf_dir, name, hostname):
    datadog_agent.set_hostname(hostname)
    cls = load_class(checks_dir, name)
    conf = yaml.safe_load((pathlib.Path(conf_dir) / f"{name}.yaml").read_text())
    report = {"check": name, "metrics": [], "service_checks": [], "events": [], "warnings": []}
    report.update({"errors": [], "metadata": [], "histogram_buckets": []})
    for instance in conf["instances"]:
        aggregator.reset()
        datadog_agent.reset()
        check = cls(name, conf.get("init_config") or {}, [instance or {}])
        check.check_id = f"{name}:stub"
        result = check.run()
        for err in json.loads(result) if result else []:
            report["errors"].append({"type": error_type(err["traceback"]), **err})
        report["warnings"] += check.get_warnings()
        for metric_name in aggregator.metric_names:
            for m in aggregator.metrics(metric_name):
                report["metrics"].append(
                    {
                        "name": m.name,
                        "type": TYPES[m.type],
                        "value": m.value,
                        "tags": list(m.tags),
                        "hostname": m.hostname or "",
                    }
                )
        for sc_name in aggregator.service_check_names:
            for sc in aggregator.service_checks(sc_name):
                report["service_checks"].append(
                    {
                        "name": sc.name,
                        "status": sc.status,
                        "tags": list(sc.tags),
                        "hostname": sc.hostname or "",
                        "message": sc.message or "",
                    }
                )
        report["events"] += [dict(e) for e in aggregator.events]
        for bucket_name in list(aggregator._histogram_buckets):
            for b in aggregator.histogram_bucket(bucket_name):
                report["histogram_buckets"].append(
                    {
                        "name": b.name,
                        "value": b.value,
                        "lower_bound": b.lower_bound,
                        "upper_bound": b.upper_bound,
                        "monotonic": bool(b.monotonic),
                        "hostname": b.hostname or "",
                        "tags": list(b.tags),
                    }
                )
        for (_check_id, key), value in datadog_agent._metadata.items():
            report["metadata"].append({"name": key, "value": value})
    json.dump(report, sys.stdout, default=str)


if __name__ == "__main__":
    main(*sys.argv[1:])
