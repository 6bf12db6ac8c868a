// Package agent is pyhost-agent's core: it loads the configured checks into
// the embedded Python, schedules them, aggregates what they submit and
// serves /metrics, /status, the status page and /healthz.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"pyhost.dev/pyhost"
	"pyhost.dev/pyhost/datadog"
	"pyhost.dev/pyhost/internal/agent/aggregate"
	"pyhost.dev/pyhost/internal/agent/config"
	"pyhost.dev/pyhost/internal/agent/redact"
	"pyhost.dev/pyhost/internal/agent/schedule"
	"pyhost.dev/pyhost/modules"
)

const (
	// stopGrace is how long, past shutdown_timeout, the agent waits for
	// cancelled runs to return and for Python to let go: stopping takes
	// shutdown_timeout plus this at most.
	stopGrace = time.Second
	// maxStartJitter bounds the random delay of an instance's first run:
	// enough to spread instances out, short enough that a freshly started
	// agent shows data quickly.
	maxStartJitter = 5 * time.Second
)

// Agent is one running pyhost-agent.
type Agent struct {
	cfg       config.Config
	logger    *slog.Logger
	rt        *pyhost.Runtime
	python    pyhost.PythonInfo
	agg       *aggregate.Aggregator
	sched     *schedule.Scheduler
	instances []*Instance
	modules   *modules.Host             // the long-running modules (see modules.go)
	lasts     []atomic.Pointer[lastRun] // per instance, same order
	// results holds runScratch for runs to reuse (the aggregator keeps
	// nothing of a Result): no per-metric allocation on the hot path, and
	// as many as runs at once, not one per idle instance.
	results sync.Pool
	secrets *redact.Redactor
	// lateDropped counts, per instance, what stuck runs submitted when they
	// returned at last (metrics, service checks and events), dropped.
	lateDropped []atomic.Uint64
	problems    []config.Problem
	registry    *prometheus.Registry
	started     time.Time
	stopping    atomic.Bool
	// stateChanged: a run completed since the checks summary was published.
	stateChanged atomic.Bool

	listener net.Listener
	server   *http.Server
	token    string // the API token (see TokenFile)
	stopOnce sync.Once
}

// runScratch is what one run reuses from the runs before it: the result
// the check writes into and the series committing it produces.
type runScratch struct {
	res    pyhost.Result
	series []aggregate.Series
}

// lastRun is what the status page shows of an instance's latest run.
type lastRun struct {
	at       time.Time
	err      error
	warnings []string
	series   int
	metadata map[string]string // everything set_metadata set so far
}

// StartPython starts the embedded interpreter as the configuration says and
// hands the agent's settings to the Datadog builtin modules (host name, run
// directory for the persistent cache, version).
func StartPython(cfg config.Config, logger *slog.Logger) (*pyhost.Runtime, error) {
	rt, err := pyhost.Start(pyhost.Options{
		Engine:            cfg.Python.Engine,
		LibPython:         cfg.Python.LibPython,
		Python:            cfg.Python.Executable,
		PythonPath:        append([]string{cfg.ChecksDir}, cfg.Python.Paths...),
		Logger:            logger,
		LogLevel:          cfg.Level(),
		ShutdownTimeout:   time.Duration(cfg.ShutdownTimeout),
		DisableAccounting: !cfg.Accounting,
	})
	if err != nil {
		return nil, err
	}
	if err := configurePython(rt, cfg); err != nil {
		_ = rt.Close()
		return nil, err
	}
	// datadog_agent.obfuscate_* run the Datadog Agent's own obfuscator.
	if err := datadog.DefineObfuscator(rt); err != nil {
		_ = rt.Close()
		return nil, fmt.Errorf("define the obfuscator: %w", err)
	}
	if err := publishHost(rt, cfg); err != nil {
		_ = rt.Close()
		return nil, fmt.Errorf("publish the host's state: %w", err)
	}
	return rt, nil
}

func configurePython(rt *pyhost.Runtime, cfg config.Config) error {
	if err := os.MkdirAll(cfg.RunDir, 0o755); err != nil {
		return fmt.Errorf("run directory: %w", err)
	}
	settings, err := json.Marshal([]any{map[string]any{
		"run_dir":   cfg.RunDir,
		"hostname":  hostname(cfg),
		"host_tags": map[string]any{"system": nonNil(cfg.HostTags)},
		"version":   pyhost.Version(),
		"config":    map[string]any{"hostname": hostname(cfg), "run_path": cfg.RunDir},
	}})
	if err != nil {
		return err
	}
	fn, err := rt.LoadFunction("_pyhost_datadog", "configure")
	if err != nil {
		return fmt.Errorf("configure Python: %w", err)
	}
	defer fn.Close()
	if _, err := fn.Call(settings); err != nil {
		return fmt.Errorf("configure Python: %w", err)
	}
	return nil
}

// New starts Python, loads every configured check and binds the listen
// address. Configuration problems are logged and kept for the status page;
// they are not fatal. Python failing to start, or the address being taken,
// is.
func New(cfg config.Config, logger *slog.Logger) (*Agent, error) {
	a := &Agent{cfg: cfg, logger: logger, started: time.Now()}
	listener, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	a.listener = listener
	// Secrets in the checks' configurations never reach the log, /status or
	// the status page (the records Python logs included).
	configured, problems := config.LoadChecks(cfg.ConfDir)
	configured, refused := trustedInstances(cfg, configured)
	problems = append(problems, refused...)
	a.secrets = secretsOf(configured)
	logger = slog.New(a.secrets.Handler(logger.Handler()))
	a.logger = logger
	if a.rt, err = StartPython(cfg, logger); err != nil {
		listener.Close()
		return nil, err
	}
	if a.python, err = a.rt.PythonInfo(); err != nil {
		logger.Warn("python info unavailable", "err", err)
	}
	logger.Info("python started", "version", firstField(a.python.Version), "executable", a.python.Executable)

	a.instances, a.problems = LoadInstances(a.rt, cfg, configured)
	a.problems = append(problems, a.problems...)
	for _, p := range a.problems {
		logger.Error("configuration problem; skipped", "check", p.Check, "problem", p.Error())
	}

	a.agg = aggregate.New(aggregate.Options{Logger: logger})
	a.sched = schedule.New(cfg.CheckRunners, schedule.Options{
		Grace: time.Duration(cfg.CancelGrace), MaxOverdue: cfg.MaxLateRuns})
	a.lasts = make([]atomic.Pointer[lastRun], len(a.instances))
	a.results.New = func() any { return new(runScratch) }
	a.lateDropped = make([]atomic.Uint64, len(a.instances))
	for i, inst := range a.instances {
		timeout := runTimeout(cfg, inst.Config)
		err := a.sched.Add(schedule.Task{
			ID:        inst.Check.ID(),
			Interval:  inst.Config.Interval,
			Timeout:   timeout,
			MaxJitter: min(inst.Config.Interval, maxStartJitter),
			Run:       func(ctx context.Context) schedule.Outcome { return a.runInstance(ctx, i) },
		})
		if err != nil { // config validated the values; this is a bug
			return nil, err
		}
	}
	logger.Info("checks loaded", "instances", len(a.instances), "problems", len(a.problems))

	a.registry = prometheus.NewRegistry()
	a.registry.MustRegister(
		a.agg,
		telemetry{a},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if a.token, err = newToken(cfg.RunDir); err != nil {
		_ = a.rt.Close()
		listener.Close()
		return nil, fmt.Errorf("API token: %w", err)
	}
	a.server = &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
	a.publishChecks()
	// Modules start once the checks are loaded (and their first summary is
	// published, so a module's first get sees it).
	if err := a.startModules(); err != nil {
		_ = a.rt.Close()
		listener.Close()
		return nil, fmt.Errorf("modules: %w", err)
	}
	return a, nil
}

// Addr is the address the agent serves on.
func (a *Agent) Addr() string { return a.listener.Addr().String() }

// Run schedules the checks and serves HTTP until ctx ends, then shuts down:
// runs in flight get ShutdownTimeout to finish before they are cancelled.
func (a *Agent) Run(ctx context.Context) error {
	serveErr := make(chan error, 1)
	go func() { serveErr <- a.server.Serve(a.listener) }()
	a.sched.Start()
	publishing, stopPublishing := context.WithCancel(context.Background())
	defer stopPublishing()
	go a.publishLoop(publishing)
	go tuneGC(publishing)
	a.logger.Info("agent running", "listen", a.Addr(), "instances", len(a.instances), "check_runners", a.cfg.CheckRunners)

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("http server: %w", err)
	}
	return errors.Join(err, a.shutdown())
}

func (a *Agent) shutdown() error {
	var err error
	a.stopOnce.Do(func() {
		a.stopping.Store(true)
		budget := time.Duration(a.cfg.ShutdownTimeout)
		a.logger.Info("shutting down", "deadline", budget)
		// One deadline for the runs, then one more for everything after:
		// cancelled runs returning, and the runtime shutting down.
		runs, cancelRuns := context.WithTimeout(context.Background(), budget)
		defer cancelRuns()
		final, cancelFinal := context.WithTimeout(context.Background(), budget+stopGrace)
		defer cancelFinal()
		// Runs that do not stop (blocked in C, or deaf to cancellation) are
		// abandoned: the process ends anyway, on time. They are logged, not
		// an error: the agent did what its configuration asked.
		// Modules stop (in reverse start order) while the runs finish, under
		// the same deadline.
		modulesStopped := make(chan struct{})
		go func() { defer close(modulesStopped); a.stopModules(runs) }()
		if serr := a.sched.Stop(runs, stopGrace); serr != nil {
			a.logger.Warn("runs abandoned at shutdown", "err", serr)
		}
		select {
		case <-modulesStopped:
		case <-final.Done(): // a module stuck in Python is abandoned, as runs are
			a.logger.Warn("modules did not stop by the shutdown deadline; abandoned")
		}
		for _, inst := range a.instances {
			_ = inst.Check.Close()
		}
		if cerr := a.rt.Shutdown(final); cerr != nil {
			if errors.Is(cerr, pyhost.ErrTimeout) {
				a.logger.Warn("python shutdown: runs still inside Python were abandoned", "err", cerr)
			} else {
				err = cerr
				a.logger.Error("python shutdown", "err", cerr)
			}
		}
		if serr := a.server.Shutdown(final); serr != nil {
			_ = a.server.Close()
		}
		a.logger.Info("stopped")
	})
	return err
}

// Close releases everything without having run (e.g. after New in tests).
func (a *Agent) Close() error {
	return a.shutdown()
}

func (a *Agent) runInstance(ctx context.Context, i int) schedule.Outcome {
	inst := a.instances[i]
	scratch := a.results.Get().(*runScratch)
	defer a.results.Put(scratch)
	res := &scratch.res
	err := inst.Check.RunInto(ctx, res)
	// The check ran (and res holds what it submitted) unless it could not
	// start: RunInto then leaves res empty, with no error of the check's.
	ran := err == nil || res.Cancelled || res.Error != nil
	if !schedule.Finish(ctx) {
		// The run was abandoned as stuck: what it brings back now belongs to
		// no collection. Dropped, and counted.
		n := len(res.Metrics) + len(res.ServiceChecks) + len(res.Events)
		a.lateDropped[i].Add(uint64(n))
		a.logger.Warn("a stuck run returned; its results were dropped", "check", inst.Config.Check,
			"check_id", inst.Check.ID(), "dropped", n)
		return schedule.Outcome{}
	}
	now := time.Now()
	last := &lastRun{at: now, err: err}
	out := schedule.Outcome{Err: err}
	if ran {
		scratch.series = a.agg.AppendCommit(scratch.series[:0], inst.Config.Check, inst.Check.ID(), res, now)
		last.series = len(scratch.series)
		last.warnings = slices.Clone(res.Warnings) // res is reused by the next run
		out.Warnings = len(res.Warnings)
		out.Metrics = len(res.Metrics)
	}
	prev := a.lasts[i].Load()
	if prev != nil {
		last.metadata = prev.metadata
	}
	if ran && len(res.Metadata) > 0 {
		md := make(map[string]string, len(last.metadata)+len(res.Metadata))
		maps.Copy(md, last.metadata)
		for _, m := range res.Metadata {
			md[m.Name] = m.Value
		}
		last.metadata = md
	}
	a.lasts[i].Store(last)
	a.stateChanged.Store(true)
	if err != nil && !a.stopping.Load() {
		var pe *pyhost.PythonError
		if errors.As(err, &pe) {
			a.logger.Error("check run failed", "check", inst.Config.Check, "check_id", inst.Check.ID(),
				"type", pe.Type, "message", pe.Message)
		} else {
			a.logger.Error("check run failed", "check", inst.Config.Check, "check_id", inst.Check.ID(), "err", err)
		}
	}
	for _, w := range last.warnings {
		a.logger.Warn("check warning", "check", inst.Config.Check, "check_id", inst.Check.ID(), "warning", w)
	}
	return out
}

func firstField(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return s
}

// Hostname is the configured host name, else the machine's.
func hostname(cfg config.Config) string {
	if cfg.Hostname != "" {
		return cfg.Hostname
	}
	h, _ := os.Hostname()
	return h
}

var goVersion = runtime.Version()
