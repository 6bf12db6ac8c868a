package agent

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"pyhost.dev/pyhost"
	"pyhost.dev/pyhost/internal/agent/config"
	"pyhost.dev/pyhost/internal/agent/schedule"
	"pyhost.dev/pyhost/modules"
)

// Status is what /status serves and the status page shows.
type Status struct {
	Version       string        `json:"version"`
	GoVersion     string        `json:"go_version"`
	Python        PythonStatus  `json:"python"`
	Hostname      string        `json:"hostname"`
	ConfigFile    string        `json:"config_file"`
	Listen        string        `json:"listen"`
	CheckRunners  int           `json:"check_runners"`
	Started       time.Time     `json:"started"`
	UptimeSeconds float64       `json:"uptime_seconds"`
	Stopping      bool          `json:"stopping"`
	Series        int           `json:"series"`
	StuckRuns     int           `json:"stuck_runs"` // runs abandoned as stuck that have not returned
	Instances     []CheckStatus `json:"checks"`
	Problems      []Problem     `json:"problems"`
	// Accounting: the checks' Cost is measured (the accounting option).
	Accounting bool `json:"accounting"`
	// Unattributed is the Python memory allocated outside every check run
	// and module call (imports, configuration, the agent's own Python).
	Unattributed UnattributedMemory `json:"unattributed_memory"`
	// Modules are the long-running modules, in start order; Health every
	// health check they raise.
	Modules []modules.Status `json:"modules"`
	Health  []HealthCheck    `json:"health"`
}

// PythonStatus says which Python is embedded.
type PythonStatus struct {
	Version    string `json:"version"`
	Executable string `json:"executable"`
	LibPython  string `json:"libpython"`
}

// CheckStatus is one instance's configuration and run statistics.
type CheckStatus struct {
	Check           string     `json:"check"`
	CheckID         string     `json:"check_id"`
	Source          string     `json:"source"`
	ConfigFile      string     `json:"config_file"`
	IntervalSeconds float64    `json:"interval_seconds"`
	TimeoutSeconds  float64    `json:"timeout_seconds"`
	State           string     `json:"state"` // pending | running | stuck | ok | warning | error | timeout
	Runs            uint64     `json:"runs"`
	Errors          uint64     `json:"errors"`
	Warnings        uint64     `json:"warnings"`
	Skipped         uint64     `json:"skipped"`
	Timeouts        uint64     `json:"timeouts"`
	Abandoned       uint64     `json:"abandoned"`    // runs abandoned as stuck
	LateDropped     uint64     `json:"late_dropped"` // what stuck runs submitted when they returned, dropped
	LastRun         *time.Time `json:"last_run"`
	LastDurationMS  float64    `json:"last_duration_ms"`
	AvgDurationMS   float64    `json:"avg_duration_ms"`
	MetricsLastRun  int        `json:"metrics_last_run"`
	SeriesLastRun   int        `json:"series_last_run"`
	LastWarnings    []string   `json:"last_warnings"`
	// Metadata is what the check reported with set_metadata (e.g. version).
	Metadata  map[string]string `json:"metadata"`
	LastError *RunError         `json:"last_error"` // the latest failed run's error, even if later runs were clean
	Cost      Cost              `json:"cost"`
}

// UnattributedMemory is Python memory no check or module is charged with.
type UnattributedMemory struct {
	AllocatedBytes uint64 `json:"allocated_bytes"`
	RetainedBytes  uint64 `json:"retained_bytes"`
}

// Cost is what an instance's runs cost so far (docs/agent.md, "What each
// check costs"): totals over every run that returned, cancelled and
// abandoned ones included; all zero but queue wait when accounting is off.
type Cost struct {
	CPUSeconds       float64 `json:"cpu_seconds"`
	WallSeconds      float64 `json:"wall_seconds"`
	GILWaitSeconds   float64 `json:"gil_wait_seconds"`
	QueueWaitSeconds float64 `json:"queue_wait_seconds"`
	// CPUShare is CPU seconds per second of the agent's uptime: 0.01 is 1%
	// of one core.
	CPUShare       float64 `json:"cpu_share"`
	AllocatedBytes uint64  `json:"allocated_bytes"`
	RetainedBytes  uint64  `json:"retained_bytes"`
}

// CostOrders are the orders /status?sort= and the status page know, each
// the Cost figure it sorts by, largest first.
var CostOrders = map[string]func(Cost) float64{
	"cpu":        func(c Cost) float64 { return c.CPUSeconds },
	"wall":       func(c Cost) float64 { return c.WallSeconds },
	"gil_wait":   func(c Cost) float64 { return c.GILWaitSeconds },
	"queue_wait": func(c Cost) float64 { return c.QueueWaitSeconds },
	"allocated":  func(c Cost) float64 { return float64(c.AllocatedBytes) },
	"retained":   func(c Cost) float64 { return float64(c.RetainedBytes) },
}

// SortByCost orders checks by one of CostOrders, largest first (ties by
// check id); it reports false for an order it does not know.
func SortByCost(checks []CheckStatus, order string) bool {
	key, ok := CostOrders[order]
	if !ok {
		return false
	}
	slices.SortStableFunc(checks, func(a, b CheckStatus) int {
		if c := cmp.Compare(key(b.Cost), key(a.Cost)); c != 0 {
			return c
		}
		return strings.Compare(a.CheckID, b.CheckID)
	})
	return true
}

func costOf(s schedule.Stats, u pyhost.CheckStats, uptime time.Duration) Cost {
	c := Cost{
		CPUSeconds:       u.CPU.Seconds(),
		WallSeconds:      u.Wall.Seconds(),
		GILWaitSeconds:   u.GILWait.Seconds(),
		QueueWaitSeconds: s.QueueWait.Seconds(),
		AllocatedBytes:   u.Allocated,
		RetainedBytes:    u.Retained,
	}
	if uptime > 0 {
		c.CPUShare = c.CPUSeconds / uptime.Seconds()
	}
	return c
}

// RunError is a run's error: a Python exception or an agent-side failure.
type RunError struct {
	Type      string `json:"type"`
	Message   string `json:"message"`
	Traceback string `json:"traceback"`
}

// Problem is a configuration problem shown on the status page.
type Problem struct {
	Check   string `json:"check"`
	File    string `json:"file"`
	Line    int    `json:"line"`
	Message string `json:"message"`
}

// NewRunError describes err for the status page and the CLI.
func NewRunError(err error) *RunError {
	if err == nil {
		return nil
	}
	var pe *pyhost.PythonError
	if errors.As(err, &pe) {
		return &RunError{Type: pe.Type, Message: pe.Message, Traceback: pe.Traceback}
	}
	kind := "pyhost"
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		kind = "timeout"
	case errors.Is(err, pyhost.ErrCancelled):
		kind = "cancelled"
	case errors.Is(err, pyhost.ErrShutdown):
		kind = "shutdown"
	}
	return &RunError{Type: kind, Message: err.Error()}
}

// Status reports the agent's state now.
func (a *Agent) Status() Status {
	st := Status{
		Version:   pyhost.Version(),
		GoVersion: goVersion,
		Python: PythonStatus{
			Version:    a.python.Version,
			Executable: a.python.Executable,
			LibPython:  a.python.LibPython,
		},
		Hostname:      hostname(a.cfg),
		Accounting:    a.cfg.Accounting,
		ConfigFile:    a.cfg.File,
		Listen:        a.Addr(),
		CheckRunners:  a.cfg.CheckRunners,
		Started:       a.started,
		UptimeSeconds: time.Since(a.started).Seconds(),
		Stopping:      a.stopping.Load(),
		Series:        a.agg.Len(),
		StuckRuns:     a.sched.Stuck(),
		Instances:     make([]CheckStatus, 0, len(a.instances)),
		Problems:      make([]Problem, 0, len(a.problems)),
		Modules:       a.ModuleStatuses(),
		Health:        a.Health(),
	}
	if a.cfg.Accounting {
		st.Unattributed.AllocatedBytes, st.Unattributed.RetainedBytes, _ = a.rt.UnattributedMemory()
	}
	stats := a.sched.Stats()
	for i, inst := range a.instances {
		s := stats[i]
		timeout := runTimeout(a.cfg, inst.Config)
		cs := a.instanceStatus(i, inst, s)
		cs.Source = inst.Source
		cs.ConfigFile = inst.Config.File
		cs.IntervalSeconds = inst.Config.Interval.Seconds()
		cs.TimeoutSeconds = timeout.Seconds()
		cs.Skipped = s.Skipped
		cs.Timeouts = s.Timeouts
		cs.Abandoned = s.Abandoned
		cs.LateDropped = a.lateDropped[i].Load()
		cs.AvgDurationMS = float64(s.AvgDuration.Microseconds()) / 1000
		cs.MetricsLastRun = s.LastMetrics
		cs.LastWarnings = []string{}
		cs.Metadata = map[string]string{}
		if last := a.lasts[i].Load(); last != nil {
			cs.SeriesLastRun = last.series
			if last.metadata != nil {
				cs.Metadata = last.metadata
			}
			if last.warnings != nil {
				cs.LastWarnings = a.secrets.All(slices.Clone(last.warnings))
			}
		}
		cs.Cost = costOf(s, inst.Check.Stats(), time.Since(a.started))
		st.Instances = append(st.Instances, cs)
	}
	for _, p := range a.problems {
		pr := problemOf(p)
		pr.Message = a.secrets.Text(pr.Message)
		st.Problems = append(st.Problems, pr)
	}
	return st
}

// instanceStatus is what both Status and the summaries published for
// plugins (checkSummaries) say of instance i: its name, runs, last run,
// state and last error.
func (a *Agent) instanceStatus(i int, inst *Instance, s schedule.Stats) CheckStatus {
	cs := CheckStatus{
		Check:          inst.Config.Check,
		CheckID:        inst.Check.ID(),
		Runs:           s.Runs,
		Errors:         s.Errors,
		Warnings:       s.Warnings,
		LastDurationMS: float64(s.LastDuration.Microseconds()) / 1000,
		LastError:      redactRunError(a.secrets, NewRunError(s.LastFailure)),
	}
	if !s.LastRun.IsZero() {
		t := s.LastRun
		cs.LastRun = &t
	}
	var warnings []string
	if last := a.lasts[i].Load(); last != nil {
		warnings = last.warnings
	}
	cs.State = state(s, warnings)
	return cs
}

func state(s schedule.Stats, warnings []string) string {
	switch {
	case s.Stuck:
		return "stuck"
	case s.Running:
		return "running"
	case s.Runs == 0:
		return "pending"
	case s.LastErr != nil && errors.Is(s.LastErr, context.DeadlineExceeded):
		return "timeout"
	case s.LastErr != nil:
		return "error"
	case len(warnings) > 0:
		return "warning"
	}
	return "ok"
}

// VersionInfo is what `pyhost-agent version` prints.
type VersionInfo struct {
	Pyhost string       `json:"pyhost"`
	Go     string       `json:"go"`
	Python PythonStatus `json:"python"`
}

// Versions starts the configured Python to report its version; the error
// says why when it cannot start (the other fields are still filled).
func Versions(cfg config.Config, logger *slog.Logger) (VersionInfo, error) {
	v := VersionInfo{Pyhost: pyhost.Version(), Go: goVersion}
	rt, err := StartPython(cfg, logger)
	if err != nil {
		return v, err
	}
	defer rt.Close()
	info, err := rt.PythonInfo()
	if err != nil {
		return v, err
	}
	v.Python = PythonStatus{Version: firstField(info.Version), Executable: info.Executable, LibPython: info.LibPython}
	return v, nil
}

func problemOf(p config.Problem) Problem {
	return Problem{Check: p.Check, File: p.File, Line: p.Line, Message: p.Msg}
}

// runTimeout is an instance's run timeout: its own, else default_timeout.
func runTimeout(cfg config.Config, inst config.Instance) time.Duration {
	if inst.RunTimeout > 0 {
		return inst.RunTimeout
	}
	return time.Duration(cfg.DefaultTimeout)
}
