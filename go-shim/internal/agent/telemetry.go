package agent

import (
	"github.com/prometheus/client_golang/prometheus"

	"pyhost.dev/pyhost"
)

// telemetry exposes the agent's own state on /metrics, read from the
// scheduler's statistics at scrape time.
type telemetry struct{ a *Agent }

var (
	instLabels   = []string{"check", "check_id"}
	descRuns     = prometheus.NewDesc("pyhost_check_runs_total", "Check runs finished.", instLabels, nil)
	descErrors   = prometheus.NewDesc("pyhost_check_errors_total", "Check runs that failed (exception, timeout or cancellation).", instLabels, nil)
	descTimeouts = prometheus.NewDesc("pyhost_check_timeouts_total", "Check runs cancelled for passing their timeout.", instLabels, nil)
	descWarnings = prometheus.NewDesc("pyhost_check_warnings_total", "Warnings reported by check runs.", instLabels, nil)
	descSkipped  = prometheus.NewDesc("pyhost_check_skipped_total", "Scheduled runs skipped because the previous run was not done.", instLabels, nil)
	descDuration = prometheus.NewDesc("pyhost_check_last_duration_seconds", "Duration of the latest check run.", instLabels, nil)
	descMetrics  = prometheus.NewDesc("pyhost_check_metrics_last_run", "Metric samples submitted by the latest check run.", instLabels, nil)
	descStuck    = prometheus.NewDesc("pyhost_check_stuck", "1 while a run of the instance is stuck: past its deadline by more than cancel_grace, abandoned.", instLabels, nil)
	descAbandon  = prometheus.NewDesc("pyhost_check_abandoned_runs_total", "Runs abandoned as stuck.", instLabels, nil)
	descLate     = prometheus.NewDesc("pyhost_check_late_submissions_dropped_total", "Metrics, service checks and events that stuck runs submitted when they returned at last, dropped.", instLabels, nil)
	descCPU      = prometheus.NewDesc("pyhost_check_cpu_seconds_total", "CPU time of the instance's runs on their threads, time in C included (see docs/agent.md for short runs).", instLabels, nil)
	descGILWait  = prometheus.NewDesc("pyhost_check_gil_wait_seconds_total", "Time the instance's runs waited to take the GIL before they began.", instLabels, nil)
	descQueue    = prometheus.NewDesc("pyhost_check_queue_wait_seconds_total", "Time the instance's runs waited between their due time and their start.", instLabels, nil)
	descAlloc    = prometheus.NewDesc("pyhost_check_allocated_bytes_total", "Python memory allocated during the instance's runs.", instLabels, nil)
	descRetained = prometheus.NewDesc("pyhost_check_retained_bytes", "Python memory the instance's runs allocated that is still alive (as of its latest run).", instLabels, nil)
	descOutAlloc = prometheus.NewDesc("pyhost_python_unattributed_allocated_bytes_total", "Python memory allocated outside every check run and module call (imports, configuration, the agent's own Python).", nil, nil)
	descOutKept  = prometheus.NewDesc("pyhost_python_unattributed_retained_bytes", "Python memory allocated outside every check run and module call that is still alive.", nil, nil)
	descStuckAll = prometheus.NewDesc("pyhost_stuck_runs", "Runs abandoned as stuck that have not returned.", nil, nil)
	descProblems = prometheus.NewDesc("pyhost_config_problems", "Configuration problems found at start (those checks are skipped).", nil, nil)
	descSeries   = prometheus.NewDesc("pyhost_series", "Series currently exported from check submissions.", nil, nil)
	descUp       = prometheus.NewDesc("pyhost_up", "1 while the agent runs, 0 while it shuts down.", nil, nil)
	descBuild    = prometheus.NewDesc("pyhost_build_info", "pyhost, Go and embedded Python versions.",
		[]string{"version", "go_version", "python_version"}, nil)
)

func (t telemetry) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRuns, descErrors, descTimeouts, descWarnings, descSkipped,
		descDuration, descMetrics, descStuck, descAbandon, descLate, descCPU, descGILWait, descQueue, descAlloc, descRetained, descOutAlloc, descOutKept, descStuckAll, descProblems, descSeries, descUp, descBuild} {
		ch <- d
	}
	for _, d := range moduleDescs {
		ch <- d
	}
}

func (t telemetry) Collect(ch chan<- prometheus.Metric) {
	a := t.a
	for i, s := range a.sched.Stats() {
		inst := a.instances[i]
		lv := []string{inst.Config.Check, inst.Check.ID()}
		ch <- prometheus.MustNewConstMetric(descRuns, prometheus.CounterValue, float64(s.Runs), lv...)
		ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(s.Errors), lv...)
		ch <- prometheus.MustNewConstMetric(descTimeouts, prometheus.CounterValue, float64(s.Timeouts), lv...)
		ch <- prometheus.MustNewConstMetric(descWarnings, prometheus.CounterValue, float64(s.Warnings), lv...)
		ch <- prometheus.MustNewConstMetric(descSkipped, prometheus.CounterValue, float64(s.Skipped), lv...)
		ch <- prometheus.MustNewConstMetric(descDuration, prometheus.GaugeValue, s.LastDuration.Seconds(), lv...)
		ch <- prometheus.MustNewConstMetric(descMetrics, prometheus.GaugeValue, float64(s.LastMetrics), lv...)
		stuck := 0.0
		if s.Stuck {
			stuck = 1
		}
		ch <- prometheus.MustNewConstMetric(descStuck, prometheus.GaugeValue, stuck, lv...)
		ch <- prometheus.MustNewConstMetric(descAbandon, prometheus.CounterValue, float64(s.Abandoned), lv...)
		ch <- prometheus.MustNewConstMetric(descLate, prometheus.CounterValue, float64(a.lateDropped[i].Load()), lv...)
		ch <- prometheus.MustNewConstMetric(descQueue, prometheus.CounterValue, s.QueueWait.Seconds(), lv...)
		if a.cfg.Accounting {
			u := inst.Check.Stats()
			ch <- prometheus.MustNewConstMetric(descCPU, prometheus.CounterValue, u.CPU.Seconds(), lv...)
			ch <- prometheus.MustNewConstMetric(descGILWait, prometheus.CounterValue, u.GILWait.Seconds(), lv...)
			ch <- prometheus.MustNewConstMetric(descAlloc, prometheus.CounterValue, float64(u.Allocated), lv...)
			ch <- prometheus.MustNewConstMetric(descRetained, prometheus.GaugeValue, float64(u.Retained), lv...)
		}
	}
	if a.cfg.Accounting {
		if allocated, retained, err := a.rt.UnattributedMemory(); err == nil {
			ch <- prometheus.MustNewConstMetric(descOutAlloc, prometheus.CounterValue, float64(allocated))
			ch <- prometheus.MustNewConstMetric(descOutKept, prometheus.GaugeValue, float64(retained))
		}
	}
	ch <- prometheus.MustNewConstMetric(descStuckAll, prometheus.GaugeValue, float64(a.sched.Stuck()))
	ch <- prometheus.MustNewConstMetric(descProblems, prometheus.GaugeValue, float64(len(a.problems)))
	ch <- prometheus.MustNewConstMetric(descSeries, prometheus.GaugeValue, float64(a.agg.Len()))
	up := 1.0
	if a.stopping.Load() {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(descBuild, prometheus.GaugeValue, 1, pyhost.Version(), goVersion, firstField(a.python.Version))
	a.collectModules(ch)
}
