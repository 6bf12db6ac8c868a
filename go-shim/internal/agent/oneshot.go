package agent

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"pyhost.dev/pyhost"
	"pyhost.dev/pyhost/internal/agent/aggregate"
	"pyhost.dev/pyhost/internal/agent/config"
	"pyhost.dev/pyhost/internal/agent/redact"
)

// Exit statuses of `pyhost-agent check`.
const (
	ExitOK          = 0 // every instance ran cleanly
	ExitCheckFailed = 1 // a check raised, timed out or could not be loaded
	ExitUsage       = 2 // usage or configuration error
)

// CheckOptions control a one-off check run.
type CheckOptions struct {
	Times int           // runs of every instance (≥ 1); two or more make rates appear
	Pause time.Duration // between runs
	Raw   bool          // report every submitted sample instead of the aggregated series
}

// CheckReport is what `pyhost-agent check NAME` prints: the series the
// agent would export after the last run (or, with Raw, every submission),
// and every service check, event, warning and error of all runs.
type CheckReport struct {
	Check         string                `json:"check"`
	Instances     int                   `json:"instances"`
	Runs          int                   `json:"runs"`
	Metrics       []ReportMetric        `json:"metrics"`
	ServiceChecks []pyhost.ServiceCheck `json:"service_checks"`
	Events        []pyhost.Event        `json:"events"`
	Warnings      []string              `json:"warnings"`
	Errors        []RunError            `json:"errors"`
	Problems      []Problem             `json:"problems,omitempty"`
	// What datadog_checks.base checks can submit besides the above.
	HistogramBuckets []pyhost.HistogramBucket `json:"histogram_buckets,omitempty"`
	PlatformEvents   []pyhost.PlatformEvent   `json:"event_platform_events,omitempty"`
	Metadata         []pyhost.Metadata        `json:"metadata,omitempty"`
	ExternalTags     []json.RawMessage        `json:"external_tags,omitempty"`
	// RunCosts is what each run cost, in run order (empty with accounting off).
	RunCosts []RunCost `json:"run_costs,omitempty"`
}

// RunCost is one run's pyhost.Usage, as `check NAME` reports it.
type RunCost struct {
	CheckID        string  `json:"check_id"`
	Run            int     `json:"run"` // 1-based
	WallMS         float64 `json:"wall_ms"`
	CPUMS          float64 `json:"cpu_ms"`
	CPUExact       bool    `json:"cpu_exact"` // read from the thread's CPU clock
	GILWaitMS      float64 `json:"gil_wait_ms"`
	AllocatedBytes uint64  `json:"allocated_bytes"`
	RetainedBytes  uint64  `json:"retained_bytes"`
}

func runCost(checkID string, run int, u pyhost.Usage) RunCost {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return RunCost{CheckID: checkID, Run: run, WallMS: ms(u.Wall), CPUMS: ms(u.CPU), CPUExact: u.CPUExact,
		GILWaitMS: ms(u.GILWait), AllocatedBytes: u.Allocated, RetainedBytes: u.Retained}
}

// ReportMetric is one metric line of a CheckReport.
type ReportMetric struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	Value    float64  `json:"value"`
	Tags     []string `json:"tags"`
	Hostname string   `json:"hostname"`
}

// RunCheck loads check name's configuration and runs each of its instances
// opts.Times times, as `pyhost-agent check` does. The exit status says how
// it went (ExitOK, ExitCheckFailed, ExitUsage); an error is returned only
// when Python could not start.
func RunCheck(ctx context.Context, cfg config.Config, name string, opts CheckOptions, logger *slog.Logger) (*CheckReport, int, error) {
	rep := &CheckReport{Check: name, Metrics: []ReportMetric{}, ServiceChecks: []pyhost.ServiceCheck{},
		Events: []pyhost.Event{}, Warnings: []string{}, Errors: []RunError{}}
	exit := ExitOK
	configured, problems := config.LoadCheck(cfg.ConfDir, name)
	configured, refused := trustedInstances(cfg, configured)
	problems = append(problems, refused...)
	for _, p := range problems {
		rep.Problems = append(rep.Problems, problemOf(p))
		exit = ExitUsage
	}
	if len(configured) == 0 {
		return rep, ExitUsage, nil
	}
	secrets := secretsOf(configured)
	logger = slog.New(secrets.Handler(logger.Handler()))
	defer func() { redactReport(secrets, rep) }()
	rt, err := StartPython(cfg, logger)
	if err != nil {
		return rep, ExitUsage, err
	}
	defer rt.Close()

	class, _, err := loadClass(rt, cfg, name)
	if err != nil {
		var pe *pyhost.PythonError
		if !errors.As(err, &pe) { // not found at all: a configuration error
			rep.Problems = append(rep.Problems, Problem{Check: name, File: configured[0].File, Message: err.Error()})
			return rep, ExitUsage, nil
		}
		rep.Errors = append(rep.Errors, *NewRunError(err))
		return rep, max(exit, ExitCheckFailed), nil
	}
	defer class.Close()

	type live struct {
		check   *pyhost.Check
		timeout time.Duration
		sampler *aggregate.Sampler
		last    []aggregate.Series
		status  CheckStatus // what StateChecks publishes of it
	}
	var insts []*live
	for _, inst := range configured {
		chk, err := class.NewCheck(name, inst.InitConfig, inst.Config)
		if err != nil {
			rep.Errors = append(rep.Errors, *NewRunError(err))
			exit = max(exit, ExitCheckFailed)
			continue
		}
		defer chk.Close()
		timeout := runTimeout(cfg, inst)
		insts = append(insts, &live{check: chk, timeout: timeout, sampler: aggregate.NewSampler(),
			status: CheckStatus{Check: name, CheckID: chk.ID(), State: "pending"}})
	}
	// Plugins see the instances' status as in the running agent.
	publish := func() {
		summary := make(map[string]any, len(insts))
		for _, l := range insts {
			summary[l.status.CheckID] = checkSummary(l.status)
		}
		if err := rt.Publish(StateChecks, summary); err != nil {
			logger.Warn("publishing the checks' status failed", "err", err)
		}
	}
	publish()
	rep.Instances = len(insts)
	times := max(opts.Times, 1)
	for run := 0; run < times && ctx.Err() == nil; run++ {
		if run > 0 && opts.Pause > 0 {
			select {
			case <-ctx.Done():
				continue
			case <-time.After(opts.Pause):
			}
		}
		rep.Runs++
		for _, l := range insts {
			rctx, cancel := context.WithTimeout(ctx, l.timeout)
			start := time.Now()
			res, err := l.check.Run(rctx)
			cancel()
			l.status.Runs++
			l.status.LastRun = &start
			l.status.LastDurationMS = float64(time.Since(start).Microseconds()) / 1000
			l.status.State = "ok"
			if err != nil {
				rep.Errors = append(rep.Errors, *NewRunError(err))
				exit = max(exit, ExitCheckFailed)
				l.status.Errors++
				l.status.LastError = redactRunError(secrets, NewRunError(err))
				l.status.State = "error"
				if errors.Is(err, context.DeadlineExceeded) {
					l.status.State = "timeout"
				}
			} else if res != nil && len(res.Warnings) > 0 {
				l.status.Warnings++
				l.status.State = "warning"
			}
			publish()
			if res == nil {
				continue
			}
			if res.Usage.Measured {
				rep.RunCosts = append(rep.RunCosts, runCost(l.check.ID(), run+1, res.Usage))
			}
			l.last = l.sampler.Commit(res.Metrics, time.Now())
			if opts.Raw {
				for _, m := range res.Metrics {
					rep.Metrics = append(rep.Metrics, ReportMetric{Name: m.Name, Type: m.Type.String(),
						Value: m.Value, Tags: nonNil(m.Tags), Hostname: m.Hostname})
				}
			}
			for _, sc := range res.ServiceChecks {
				sc.Tags = nonNil(sc.Tags)
				rep.ServiceChecks = append(rep.ServiceChecks, sc)
			}
			rep.Events = append(rep.Events, res.Events...)
			rep.HistogramBuckets = append(rep.HistogramBuckets, res.HistogramBuckets...)
			rep.PlatformEvents = append(rep.PlatformEvents, res.PlatformEvents...)
			rep.Metadata = append(rep.Metadata, res.Metadata...)
			rep.ExternalTags = append(rep.ExternalTags, res.ExternalTags...)
			rep.Warnings = append(rep.Warnings, res.Warnings...)
		}
	}
	if !opts.Raw {
		for _, l := range insts {
			for _, s := range l.last {
				rep.Metrics = append(rep.Metrics, ReportMetric{Name: s.Name, Type: s.Type.String(),
					Value: s.Value, Tags: nonNil(s.Tags), Hostname: s.Hostname})
			}
		}
	}
	if ctx.Err() != nil && exit == ExitOK {
		exit = ExitCheckFailed
	}
	return rep, exit, nil
}

// secretsOf collects the secrets in instances' configurations.
func secretsOf(insts []config.Instance) *redact.Redactor {
	configs := make([]map[string]any, 0, 2*len(insts))
	for _, inst := range insts {
		configs = append(configs, inst.Config, inst.InitConfig)
	}
	return redact.New(configs...)
}

// redactRunError masks secrets in a run's error.
func redactRunError(r *redact.Redactor, e *RunError) *RunError {
	if e == nil {
		return nil
	}
	return &RunError{Type: e.Type, Message: r.Text(e.Message), Traceback: r.Text(e.Traceback)}
}

// redactReport masks secrets in everything a check wrote into the report.
func redactReport(r *redact.Redactor, rep *CheckReport) {
	for i := range rep.Errors {
		rep.Errors[i] = *redactRunError(r, &rep.Errors[i])
	}
	r.All(rep.Warnings)
	for i := range rep.ServiceChecks {
		rep.ServiceChecks[i].Message = r.Text(rep.ServiceChecks[i].Message)
	}
	for i := range rep.Problems {
		rep.Problems[i].Message = r.Text(rep.Problems[i].Message)
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
