package modules

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"pyhost.dev/pyhost"
)

// Module is one started module.
type Module struct {
	h     *Host
	name  string
	key   string // the module's name in the SDK's module host
	fns   entryPoints
	meter *pyhost.Meter // nil if it could not be made; set under mu

	queue *queue
	// ctx bounds everything the module runs: its serve and notification
	// goroutines and the Go functions they call. Cancelled once it stopped.
	ctx    context.Context
	cancel context.CancelFunc
	// notifyCtx ends the notification loop (at Stop, or when it fails).
	notifyCtx    context.Context
	stopNotify   context.CancelFunc
	loaded       chan struct{} // closed when Start is done loading, however it ended
	served       chan struct{} // closed when the serve goroutine ends
	notified     chan struct{} // closed when the notification loop ends
	stopping     atomic.Bool
	halt         chan struct{} // closed when a stop begins: a restart's back-off ends
	halting      sync.Once
	delivered    atomic.Uint64
	notifyErrors atomic.Uint64

	// Set by load, read-only after.
	path        string
	hasServe    bool
	notifyTypes []string
	options     []Option
	commands    []Command
	hooks       []installedHook

	commandsInFlight sync.WaitGroup // Add under mu while running
	commandsActive   atomic.Int64   // the same count, readable

	mu              sync.Mutex
	state           State
	reason          string
	traceback       string
	restarts        int
	started         *time.Time
	health          map[string]HealthCheck
	lastNotifyError string
}

func newModule(h *Host, name string) *Module {
	m := &Module{h: h, name: name, key: h.goModule + "." + name, queue: newQueue(h.opts.QueueLimit), state: Loading,
		loaded: make(chan struct{}), served: make(chan struct{}), notified: make(chan struct{}), halt: make(chan struct{}),
		health: map[string]HealthCheck{}, notifyTypes: []string{}, options: []Option{}, commands: []Command{}}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.notifyCtx, m.stopNotify = context.WithCancel(m.ctx)
	return m
}

// Name is the module's name.
func (m *Module) Name() string { return m.name }

// load imports the module and makes its instance.
func (m *Module) load(options map[string]any) error {
	path, err := m.h.find(m.name)
	if err == nil && m.h.opts.Trusted != nil {
		err = m.h.opts.Trusted(path)
	}
	if err != nil {
		m.finish(Failed, err.Error(), "")
		return fmt.Errorf("module %s: %w", m.name, err)
	}
	m.path = path
	if options == nil {
		options = map[string]any{}
	}
	res, err := m.fns.load.InvokeContext(m.ctx, m.key, m.name, path, options, m.h.opts.StorePath,
		m.h.goModule)
	if err != nil {
		m.finish(Failed, err.Error(), "")
		return fmt.Errorf("module %s: %w", m.name, err)
	}
	r, _ := res.(map[string]any)
	m.hasServe, _ = r["serve"].(bool)
	if nt := stringList(r["notify_types"]); nt != nil {
		m.notifyTypes = nt
	}
	m.options = optionList(r["options"])
	m.commands = commands(r["commands"])
	switch str(r, "state") {
	case "ready":
		if err := m.installHooks(r["hooks"]); err != nil {
			m.finish(Failed, err.Error(), "")
			return fmt.Errorf("module %s: %w", m.name, err)
		}
		return nil
	case "disabled":
		m.finish(Disabled, str(r, "reason"), "")
		return fmt.Errorf("module %s is disabled: %s", m.name, str(r, "reason"))
	default:
		m.finish(Failed, str(r, "reason"), str(r, "traceback"))
		return fmt.Errorf("module %s failed to start: %s", m.name, str(r, "reason"))
	}
}

// run starts the module's goroutines.
func (m *Module) run() {
	now := time.Now()
	m.mu.Lock()
	m.state, m.started = Running, &now
	m.mu.Unlock()
	go m.notifyLoop()
	if m.hasServe {
		go m.serveLoop()
	} else {
		close(m.served)
	}
}

// finish records a final state (failed, disabled, stopped) and releases
// what the module holds.
func (m *Module) finish(state State, reason, traceback string) {
	m.mu.Lock()
	m.state, m.reason, m.traceback = state, reason, traceback
	m.mu.Unlock()
	m.h.unsubscribeModule(m)
	m.stopNotify()
	m.uninstallHooks()
}

// fail records that a running module failed, and calls its shutdown():
// the threads it started wait on wait_for_shutdown() and would run on, and
// its cleanup (a last set_store) would never happen.
func (m *Module) fail(reason, traceback string) {
	m.finish(Failed, reason, traceback)
	m.callShutdown(m.ctx)
}

// callShutdown calls the module's shutdown(), logging how it failed.
func (m *Module) callShutdown(ctx context.Context) {
	res, err := m.fns.shutdown.InvokeContext(ctx, m.key)
	if err != nil {
		if !errors.Is(err, pyhost.ErrShutdown) {
			m.h.log.Warn("module shutdown() failed", "module", m.name, "err", err)
		}
	} else if raised, _ := res.(map[string]any); raised != nil {
		m.h.log.Warn("module shutdown() raised", "module", m.name, "error", str(raised, "type")+": "+str(raised, "message"))
	}
}

// installedHook is one of the module's hooks on a hook point.
type installedHook struct {
	kind, op string
	point    *pyhost.HookPoint
	fn       *pyhost.Function
}

// installHooks puts the module's hooks ([kind, op, attribute] each, from
// the SDK) on the runtime's hook points.
func (m *Module) installHooks(v any) error {
	for _, h := range list(v) {
		parts := stringList(h)
		if len(parts) != 3 {
			continue
		}
		fn, err := m.h.rt.LoadFunction(m.name, parts[2])
		if err != nil {
			m.uninstallHooks()
			return fmt.Errorf("hook %s %s: %w", parts[0], parts[1], err)
		}
		hp := m.h.rt.Hooks(parts[1])
		if parts[0] == "dispatch" {
			hp.SetDispatch(fn)
		} else {
			hp.SetCompletion(fn)
		}
		m.mu.Lock()
		m.hooks = append(m.hooks, installedHook{kind: parts[0], op: parts[1], point: hp, fn: fn})
		m.mu.Unlock()
	}
	return nil
}

// uninstallHooks takes the module's hooks off their hook points.
func (m *Module) uninstallHooks() {
	m.mu.Lock()
	hooks := m.hooks
	m.hooks = nil
	m.mu.Unlock()
	for _, h := range hooks {
		h.point.Uninstall(h.fn)
	}
}

func (m *Module) notifyLoop() {
	defer close(m.notified)
	if _, err := m.fns.notifyLoop.InvokeContext(m.notifyCtx, m.key); err != nil && !m.stopping.Load() {
		m.h.log.Error("module notification loop failed", "module", m.name, "err", err)
	}
}

// serveLoop calls serve() until it returns, restarting it after a crash.
func (m *Module) serveLoop() {
	defer close(m.served)
	crashes := 0
	for {
		began := time.Now()
		res, err := m.fns.serve.InvokeContext(m.ctx, m.key)
		if m.stopping.Load() {
			return
		}
		if err != nil {
			m.h.log.Error("module serve failed", "module", m.name, "err", err)
			m.fail("serve: "+err.Error(), "")
			return
		}
		crash, _ := res.(map[string]any)
		if crash == nil {
			m.h.log.Info("module serve returned", "module", m.name)
			return
		}
		if time.Since(began) >= m.h.opts.MaxBackoff {
			crashes = 0
		}
		crashes++
		reason := str(crash, "type") + ": " + str(crash, "message")
		if crashes >= m.h.opts.MaxCrashes {
			m.h.log.Error("module serve crashed; giving up", "module", m.name, "crashes", crashes, "error", reason,
				"traceback", str(crash, "traceback"))
			m.fail(fmt.Sprintf("serve raised %d times in a row; the last: %s", crashes, reason),
				str(crash, "traceback"))
			return
		}
		delay := min(m.h.opts.Backoff<<(crashes-1), m.h.opts.MaxBackoff)
		m.h.log.Warn("module serve crashed; restarting", "module", m.name, "in", delay, "error", reason,
			"traceback", str(crash, "traceback"))
		m.mu.Lock()
		if m.state != Stopping { // a Stop that began meanwhile keeps its state
			m.state, m.reason, m.traceback = Restarting, reason, str(crash, "traceback")
		}
		m.mu.Unlock()
		select {
		case <-time.After(delay):
		case <-m.halt:
			return
		case <-m.ctx.Done():
			return
		}
		if m.stopping.Load() {
			return
		}
		m.mu.Lock()
		if m.state != Stopping {
			m.state, m.reason = Running, ""
		}
		m.restarts++
		m.mu.Unlock()
	}
}

// Stop asks the module to stop (its shutdown()), then waits within ctx for
// serve, the notification loop and the commands in flight to return.
// Stopping a module that is not running does nothing; calling Stop again
// after it timed out waits again.
func (m *Module) Stop(ctx context.Context) error {
	m.mu.Lock()
	st := m.state
	if st == Running || st == Restarting {
		m.state = Stopping
	}
	m.mu.Unlock()
	if st == Loading {
		// Its plugin code cannot be interrupted: wait for the load to end,
		// then stop whatever state it ended in.
		if !waitDone(ctx, m.loaded) {
			return fmt.Errorf("module %s is still loading (its import, can_run() or constructor has not returned): %w",
				m.name, ctx.Err())
		}
		return m.Stop(ctx)
	}
	switch st {
	case Running, Restarting:
		m.beginStop(ctx)
	case Stopping: // an earlier Stop timed out: wait again
	default:
		m.cancel()
		m.unload() // a module that failed after loading is still loaded
		return nil
	}
	var errs []error
	for _, ch := range []struct {
		what string
		done chan struct{}
	}{{"serve()", m.served}, {"the notification loop", m.notified}} {
		if !waitDone(ctx, ch.done) {
			errs = append(errs, fmt.Errorf("%s did not return: %w", ch.what, ctx.Err()))
		}
	}
	// Commands already running finish first (new ones are refused).
	if m.commandsActive.Load() > 0 {
		commandsDone := make(chan struct{})
		go func() { m.commandsInFlight.Wait(); close(commandsDone) }()
		if !waitDone(ctx, commandsDone) {
			errs = append(errs, fmt.Errorf("commands still running: %w", ctx.Err()))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("module %s: %w", m.name, errors.Join(errs...))
	}
	m.cancel()
	m.unload()
	m.mu.Lock()
	m.state = Stopped
	m.mu.Unlock()
	return nil
}

// beginStop takes the module off the fan-out and the hook points and
// calls its shutdown().
func (m *Module) beginStop(ctx context.Context) {
	m.stopping.Store(true)
	m.halting.Do(func() { close(m.halt) })
	m.h.unsubscribeModule(m)
	m.uninstallHooks()
	// shutdown() is Python, which a deadline cannot interrupt: one that
	// blocks is left running, and the stop goes on when ctx ends.
	called := make(chan struct{})
	go func() {
		defer close(called)
		m.callShutdown(ctx)
	}()
	if !waitDone(ctx, called) {
		m.h.log.Warn("module shutdown() did not return in time; stopping without it", "module", m.name, "err", ctx.Err())
	}
	m.stopNotify()
}

// unload drops the module's instance in Python.
func (m *Module) unload() {
	if _, err := m.fns.unload.Invoke(m.key); err != nil && !errors.Is(err, pyhost.ErrShutdown) {
		m.h.log.Warn("module unload", "module", m.name, "err", err)
	}
}

// Command runs one of the module's commands with the given arguments
// (converted as the command's type hints say) and returns its result. A
// failure is a *CommandError saying how.
func (m *Module) Command(ctx context.Context, command string, args map[string]any) (any, error) {
	m.mu.Lock()
	st, reason := m.state, m.reason
	if st == Running || st == Restarting {
		m.commandsInFlight.Add(1)
		m.commandsActive.Add(1)
	}
	m.mu.Unlock()
	if st != Running && st != Restarting {
		msg := fmt.Sprintf("module %s is %s", m.name, st)
		if reason != "" && st != Restarting {
			msg += ": " + reason
		}
		return nil, &CommandError{Kind: NotRunning, Message: msg}
	}
	defer func() {
		m.commandsActive.Add(-1)
		m.commandsInFlight.Done()
	}()
	if args == nil {
		args = map[string]any{}
	}
	res, err := m.fns.command.InvokeContext(ctx, m.key, command, args)
	if err != nil {
		var pe *pyhost.PythonError
		if errors.As(err, &pe) {
			return nil, &CommandError{Kind: Raised, Type: pe.Type, Message: pe.Message, Traceback: pe.Traceback}
		}
		return nil, err
	}
	r, _ := res.(map[string]any)
	if kind := str(r, "error"); kind != "" {
		return nil, &CommandError{Kind: ErrorKind(kind), Type: str(r, "type"), Message: str(r, "message"),
			Traceback: str(r, "traceback")}
	}
	return r["result"], nil
}

// Status is the module's state, schema, health and notification counts.
func (m *Module) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	state := string(m.state)
	if m.state == Loading {
		// What the load fills in (path, schema, hooks) is read once it is
		// done: the state's change under mu orders it before this.
		return Status{Name: m.name, State: state, Hooks: []string{}, NotifyTypes: []string{},
			Options: []Option{}, Commands: []Command{}, Health: map[string]HealthCheck{}, Cost: m.cost()}
	}
	if m.state == Disabled {
		state += ": " + m.reason
	}
	hooks := []string{}
	for _, h := range m.hooks {
		hooks = append(hooks, h.kind+" "+h.op)
	}
	return Status{
		Hooks: hooks,
		Name:  m.name, State: state, Reason: m.reason, Traceback: m.traceback, Path: m.path,
		Serve: m.hasServe, NotifyTypes: m.notifyTypes, Options: m.options, Commands: m.commands,
		Health: maps.Clone(m.health), Started: m.started, Restarts: m.restarts,
		Notifications: m.queue.queued.Load(), Coalesced: m.queue.coalesced.Load(),
		Dropped: m.queue.dropped.Load(), Backlog: m.queue.backlog(),
		NotifyErrors: m.notifyErrors.Load(), LastNotifyError: m.lastNotifyError,
		Cost: m.cost(),
	}
}

// cost reads the module's meter (m.mu held: Start sets it while Status may
// be reading).
func (m *Module) cost() Cost {
	if m.meter == nil {
		return Cost{}
	}
	u, err := m.meter.Usage()
	if err != nil {
		return Cost{}
	}
	return Cost{Calls: u.Calls, InFlight: u.InFlight, CPUSeconds: u.CPU.Seconds(), WallSeconds: u.Wall.Seconds(),
		GILWaitSeconds: u.GILWait.Seconds(), AllocatedBytes: u.Allocated, RetainedBytes: u.Retained}
}

// waitDone waits for done until ctx ends; a done already closed wins over
// an ended ctx (select alone would pick either).
func waitDone(ctx context.Context, done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
	}
	select {
	case <-done:
		return true
	case <-ctx.Done():
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
}
