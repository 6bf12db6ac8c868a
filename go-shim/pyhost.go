// Package pyhost runs Python plugins (monitoring checks) in-process, from any
// goroutine, with no thread pinning and no Python state in Go.
//
// One process hosts one CPython, started by the first Start; a Runtime is a
// session over it that owns what it loads, and Close ends the session. All
// Python work happens inside the library (rust-core), which takes the GIL
// and the calling thread's Python thread state for each call and releases
// them before returning.
package pyhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"pyhost.dev/pyhost/internal/capi"
)

// Options configure Start. The zero value works when the library was built
// by make: it finds the engine built next to it and runs the Python recorded
// at build time (the project's .venv, which has the SDK's dependencies and
// datadog-checks-base), or $PYHOST_PYTHON when set.
type Options struct {
	// Engine is the path of the engine shared object (libpyhost_engine.so).
	// Default: $PYHOST_ENGINE, else the engine built with this library.
	Engine string
	// LibPython is a libpython to load before the engine, to choose the
	// Python at run time. Default: the one the engine was linked against.
	LibPython string
	// Python is the executable the interpreter behaves as (sys.executable);
	// a virtual environment's bin/python makes its packages importable.
	// Default: $PYHOST_PYTHON, else the Python recorded when the engine was
	// built (make records its .venv), else the Python it was built against.
	// A path (or bare name on $PATH) that names no file fails Start with
	// ErrPythonUnavailable.
	Python string
	// PythonPath entries are prepended to sys.path (e.g. a checks.d directory).
	PythonPath []string
	// Logger receives Python log records, with the check id as an attribute.
	// Default: slog.Default().
	Logger *slog.Logger
	// LogLevel is the lowest Python log level forwarded. Default: Info.
	LogLevel slog.Level
	// ShutdownTimeout bounds how long Close waits for calls in flight.
	// Default: 10s. (Runtime.Shutdown takes a context instead.)
	ShutdownTimeout time.Duration

	// DisableAccounting turns off what each run reports it cost (Result.Usage,
	// Check.Stats): CPU time, GIL wait and Python memory. Accounting is on by
	// default. Python memory is counted only if the process's first Runtime
	// started with accounting on: the allocator is chosen when Python starts.
	DisableAccounting bool

	// perMetric, set only by benchmarks, delivers each metric through its own
	// cgo callback instead of the run's batch (the baseline being compared).
	perMetric func(capi.MetricCall)
}

// Runtime is a session over the process's embedded interpreter.
type Runtime struct {
	id       uint64
	closed   atomic.Bool // Close was called: new calls fail with ErrShutdown
	timeout  time.Duration
	logID    uintptr
	metricID uintptr

	closing sync.Mutex // guards done
	done    bool       // the library finished shutting the runtime down

	logger *slog.Logger
	// accounting: runs report their usage (Options.DisableAccounting unset).
	accounting bool
	// base is the context of Go functions Python calls outside any host
	// call, and bounds every other; cancelled when shutdown begins.
	base       context.Context
	cancelBase context.CancelFunc

	modules   sync.Mutex
	moduleIDs []uintptr // DefineModule's registrations, dropped at shutdown

	// OnPublish's registrations, copied on write: Publish reads them with
	// one atomic load.
	subscribersMu sync.Mutex
	subscribers   atomic.Pointer[[]*subscriber]

	hookPoints sync.Map // operation name → *HookPoint
}

// Start starts the interpreter on first use and opens a runtime over it.
func Start(opts Options) (*Runtime, error) {
	if got := capi.AbiVersion(); got != capi.ABIVersion {
		return nil, &Error{Op: "start", Class: ErrABIMismatch,
			Msg: fmt.Sprintf("library ABI %d, this package was built for %d", got, capi.ABIVersion)}
	}
	if opts.Python == "" {
		opts.Python = os.Getenv("PYHOST_PYTHON")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	rt := &Runtime{timeout: opts.ShutdownTimeout, logger: logger, accounting: !opts.DisableAccounting}
	rt.base, rt.cancelBase = context.WithCancel(context.Background())
	rt.logID = capi.RegisterLog(func(r capi.LogRecord) { forwardLog(logger, r) })
	if opts.perMetric != nil {
		rt.metricID = capi.RegisterMetric(opts.perMetric)
	}
	id, err := capi.Start(capi.StartOptions{
		Engine:            opts.Engine,
		LibPython:         opts.LibPython,
		Python:            opts.Python,
		PythonPath:        opts.PythonPath,
		LogLevel:          pythonLevel(opts.LogLevel),
		LogContext:        rt.logID,
		MetricContext:     rt.metricID,
		DisableAccounting: opts.DisableAccounting,
	})
	if err != nil {
		capi.Unregister(rt.logID)
		capi.Unregister(rt.metricID)
		rt.cancelBase()
		return nil, wrapErr("start", err)
	}
	rt.id = id
	calls.Adaptive(capi.GILContention())
	runtime.SetFinalizer(rt, func(rt *Runtime) { _ = rt.Close() })
	return rt, nil
}

// handle returns the runtime's id, or ErrShutdown after Close.
func (rt *Runtime) handle() (uint64, error) {
	if rt == nil || rt.closed.Load() {
		return 0, ErrShutdown
	}
	return rt.id, nil
}

// Close shuts the runtime down: later calls fail with ErrShutdown, running
// checks are cancelled, and Close waits up to Options.ShutdownTimeout for
// the calls in flight to return, then frees everything the runtime loaded.
// If calls are still running then, it returns an error wrapping ErrTimeout;
// what the runtime owns is freed when the last of them returns, and Close
// may be called again to wait again. Once it has succeeded, Close does
// nothing. Called from inside a call of this runtime (a Go function Python
// called), Close and Shutdown return an error wrapping ErrConflict at once
// instead of waiting for that very call; the runtime is then closed to new
// calls, and a Close from elsewhere finishes the shutdown.
func (rt *Runtime) Close() error {
	if rt == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), rt.timeout)
	defer cancel()
	return rt.Shutdown(ctx)
}

// shutdownSlice bounds one wait inside the library, so that Shutdown
// notices its context ending.
const shutdownSlice = 100 * time.Millisecond

// Shutdown is Close waiting until ctx ends instead of
// Options.ShutdownTimeout: for a caller with a deadline of its own (an
// agent stopping within its shutdown timeout).
func (rt *Runtime) Shutdown(ctx context.Context) error {
	if rt == nil {
		return nil
	}
	if rt.closed.CompareAndSwap(false, true) {
		runtime.SetFinalizer(rt, nil)
		rt.cancelBase()
	}
	// No lock is held while the library waits: a Close from a Go function
	// Python called must reach it (and be refused at once, ErrConflict),
	// not wait behind a Shutdown that waits for that very call. The
	// library's shutdown may run in several goroutines at once.
	for !rt.isDone() {
		wait := shutdownSlice
		if deadline, ok := ctx.Deadline(); ok {
			wait = max(0, min(wait, time.Until(deadline)))
		}
		err := wrapErr("shutdown", capi.Shutdown(rt.id, uint64(wait.Milliseconds())))
		if err == nil {
			rt.finishShutdown()
			return nil
		}
		if !errors.Is(err, ErrTimeout) || ctx.Err() != nil {
			return err
		}
	}
	return nil
}

func (rt *Runtime) isDone() bool {
	rt.closing.Lock()
	defer rt.closing.Unlock()
	return rt.done
}

// finishShutdown drops the Go side's registrations, once.
func (rt *Runtime) finishShutdown() {
	rt.closing.Lock()
	defer rt.closing.Unlock()
	if rt.done {
		return
	}
	rt.done = true
	capi.Unregister(rt.logID)
	capi.Unregister(rt.metricID)
	rt.modules.Lock()
	for _, id := range rt.moduleIDs {
		capi.UnregisterModule(id)
	}
	rt.moduleIDs = nil
	rt.modules.Unlock()
}

// PythonInfo describes the embedded interpreter.
type PythonInfo struct {
	Version     string   `json:"version"`
	VersionInfo []int    `json:"version_info"`
	Executable  string   `json:"executable"`
	Prefix      string   `json:"prefix"`
	BasePrefix  string   `json:"base_prefix"`
	Path        []string `json:"path"`
	LibPython   string   `json:"libpython"`
	Engine      string   `json:"engine"`
}

// PythonInfo reports which Python is embedded and how it is set up.
func (rt *Runtime) PythonInfo() (PythonInfo, error) {
	var info PythonInfo
	id, err := rt.handle()
	if err != nil {
		return info, err
	}
	raw, err := capi.PythonInfo(id)
	runtime.KeepAlive(rt)
	if err != nil {
		return info, wrapErr("python info", err)
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		return info, fmt.Errorf("pyhost: python info: %w", err)
	}
	return info, nil
}

// Version is the pyhost library's version.
func Version() string { return capi.Version() }

func pythonLevel(l slog.Level) int32 {
	switch {
	case l <= slog.LevelDebug:
		return 10
	case l <= slog.LevelInfo:
		return 20
	case l <= slog.LevelWarn:
		return 30
	default:
		return 40
	}
}

func forwardLog(logger *slog.Logger, r capi.LogRecord) {
	level := slog.LevelInfo
	switch {
	case r.Level >= 40:
		level = slog.LevelError
	case r.Level >= 30:
		level = slog.LevelWarn
	case r.Level >= 20:
		level = slog.LevelInfo
	default:
		level = slog.LevelDebug
	}
	attrs := []any{slog.String("logger", r.Logger)}
	if r.CheckID != "" {
		// Check ids are "name:hash" (see CheckID).
		name, _, _ := strings.Cut(r.CheckID, ":")
		attrs = append(attrs, slog.String("check", name), slog.String("check_id", r.CheckID))
	}
	logger.Log(context.Background(), level, r.Message, attrs...)
}
