// Package modules runs long-running Python modules (pyhost.Module, the
// ceph-mgr role) on a pyhost.Runtime: each module's serve() on a goroutine
// of its own, its notifications (what the runtime publishes, for the names
// in its NOTIFY_TYPES) on another, its commands on the caller's. It restarts
// a serve() that raises, with exponential back-off, and gives up after
// repeated crashes.
//
// Notifications fan out through one bounded, coalescing queue per module
// (a Go structure, see queue): Publish hands each subscribed module the
// name without waiting for any of them, and never touches the GIL for it.
// The module's notification goroutine waits on its queue inside Python's
// call to the host's next_notification (a Go function), with the GIL
// released, so the whole loop, notify() calls included, runs on one thread.
//
// Call Host.Stop before closing the runtime.
package modules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"pyhost.dev/pyhost"
)

// Options configure a Host. Zero values take the defaults.
type Options struct {
	// Dir holds the modules: NAME.py, or a package NAME/__init__.py.
	Dir string
	// StorePath is the SQLite database of the modules' stores (get_store,
	// set_store); "" keeps them in memory only.
	StorePath string
	// Logger receives the host's own messages (module logs go through the
	// runtime's logger, as Python log records).
	Logger *slog.Logger
	// Backoff is the wait before the first restart of a serve() that raised;
	// it doubles with each crash in a row, up to MaxBackoff. Default 1s, 1m.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// MaxCrashes is how many crashes in a row make the module failed; a
	// serve() that ran MaxBackoff without raising starts the count again.
	// Default 5.
	MaxCrashes int
	// QueueLimit bounds each module's distinct pending notifications.
	// Default 1024.
	QueueLimit int
	// Trusted, if set, is asked about each module's file before it loads
	// (the agent refuses files other users may write).
	Trusted func(path string) error
}

// Host is the modules running on one runtime. Make one per runtime.
type Host struct {
	rt   *pyhost.Runtime
	opts Options
	log  *slog.Logger
	// goModule is the Python module of this host's Go functions; keys name
	// its modules to the SDK's module host, unique across hosts.
	goModule string

	mu      sync.Mutex
	started []*Module // start order
	byName  map[string]*Module
	closed  bool
	// byKind maps a published name to the modules notified of it; copied
	// on write, so the publisher reads it with one atomic load.
	byKind      atomic.Pointer[map[string][]*Module]
	unsubscribe func()
}

// entryPoints are pyhost._modules_host's functions. Each module has its
// own, counted under its meter.
type entryPoints struct {
	load, serve, notifyLoop, shutdown, command, unload *pyhost.Function
}

func loadEntryPoints(rt *pyhost.Runtime) (entryPoints, error) {
	var e entryPoints
	for _, f := range []struct {
		name string
		fn   **pyhost.Function
	}{
		{"load", &e.load}, {"serve", &e.serve}, {"notify_loop", &e.notifyLoop},
		{"shutdown", &e.shutdown}, {"command", &e.command}, {"unload", &e.unload},
	} {
		fn, err := rt.LoadFunction("pyhost._modules_host", f.name)
		if err != nil {
			e.close()
			return entryPoints{}, fmt.Errorf("modules: the SDK's module host: %w", err)
		}
		*f.fn = fn
	}
	return e, nil
}

func (e entryPoints) all() []*pyhost.Function {
	return []*pyhost.Function{e.load, e.serve, e.notifyLoop, e.shutdown, e.command, e.unload}
}

func (e entryPoints) close() {
	for _, f := range e.all() {
		if f != nil {
			_ = f.Close()
		}
	}
}

// hostIDs numbers hosts: module names in Python are process-wide.
var hostIDs atomic.Uint64

// New makes the runtime able to run modules.
func New(rt *pyhost.Runtime, opts Options) (*Host, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = time.Minute
	}
	if opts.MaxCrashes <= 0 {
		opts.MaxCrashes = 5
	}
	if opts.QueueLimit <= 0 {
		opts.QueueLimit = 1024
	}
	if opts.StorePath == "" {
		opts.StorePath = ":memory:"
	}
	h := &Host{rt: rt, opts: opts, log: opts.Logger, byName: map[string]*Module{},
		goModule: fmt.Sprintf("_pyhost_modules_%d", hostIDs.Add(1))}
	empty := map[string][]*Module{}
	h.byKind.Store(&empty)
	// The SDK's module host is there (each module loads its own entry points).
	check, err := loadEntryPoints(rt)
	if err != nil {
		return nil, err
	}
	check.close()
	err = rt.DefineModule(h.goModule, map[string]any{
		"next_notification": h.nextNotification,
		"set_health":        h.setHealth,
	})
	if err != nil {
		return nil, fmt.Errorf("modules: %w", err)
	}
	h.unsubscribe = rt.OnPublish(h.published)
	return h, nil
}

// closeFunctions closes the started modules' entry points (once all of
// them stopped).
func (h *Host) closeFunctions(ms []*Module) {
	for _, m := range ms {
		m.fns.close()
	}
}

// published fans a publication out to the modules that listed its name:
// on the publisher's goroutine, never waiting.
func (h *Host) published(name string) { h.Notify(name, "") }

// Notify queues notify(kind, key) for every running module listing kind in
// its NOTIFY_TYPES, without publishing anything: for changes to part of a
// published value (key names the part), or events with no state.
func (h *Host) Notify(kind, key string) {
	for _, m := range (*h.byKind.Load())[kind] {
		m.queue.push(note{kind: kind, key: key})
	}
}

// find locates a module's code: Dir/NAME.py, else the package Dir/NAME/.
func (h *Host) find(name string) (string, error) {
	file := filepath.Join(h.opts.Dir, name+".py")
	if _, err := os.Stat(file); err == nil {
		return file, nil
	}
	pkg := filepath.Join(h.opts.Dir, name)
	if _, err := os.Stat(filepath.Join(pkg, "__init__.py")); err == nil {
		return pkg, nil
	}
	return "", fmt.Errorf("no module %s in %s (expected %s.py or %s/__init__.py)", name, h.opts.Dir, name, name)
}

// Start loads the module NAME from Dir with the given option values and
// starts it. The module is registered (Module, Modules and Status show it)
// whether or not it starts; err says why it did not: a missing or
// untrusted file, an import error, a bad option value (state failed), or
// can_run() saying no (state disabled). Names are unique per Host.
func (h *Host) Start(name string, options map[string]any) (*Module, error) {
	if !isIdentifier(name) {
		return nil, fmt.Errorf("modules: %q is not a module name (letters, digits and _)", name)
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, fmt.Errorf("modules: start %s: %w", name, pyhost.ErrShutdown)
	}
	if _, dup := h.byName[name]; dup {
		h.mu.Unlock()
		return nil, fmt.Errorf("modules: %s: %w: already started", name, pyhost.ErrConflict)
	}
	m := newModule(h, name)
	h.byName[name] = m
	h.started = append(h.started, m)
	h.mu.Unlock()
	defer close(m.loaded)

	fns, err := loadEntryPoints(h.rt)
	if err != nil {
		m.finish(Failed, err.Error(), "")
		return m, fmt.Errorf("module %s: %w", name, err)
	}
	m.fns = fns
	// What the module costs: every call into it (load, serve, notify,
	// commands) is counted under its meter.
	if meter, err := h.rt.NewMeter(); err == nil {
		for _, f := range fns.all() {
			f.SetMeter(meter)
		}
		m.mu.Lock()
		m.meter = meter
		m.mu.Unlock()
	}
	if err := m.load(options); err != nil {
		return m, err
	}
	// A Stop that gave up waiting for the load has returned: the module
	// must not come alive after it. (One still waiting sees it run, and
	// stops it.)
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		m.finish(Stopped, "", "")
		m.unload()
		return m, fmt.Errorf("modules: start %s: %w: the host stopped while it loaded", name, pyhost.ErrShutdown)
	}
	h.subscribe(m)
	m.run()
	return m, nil
}

// subscribe adds m to the fan-out of each of its NOTIFY_TYPES.
func (h *Host) subscribe(m *Module) {
	h.mu.Lock()
	defer h.mu.Unlock()
	next := map[string][]*Module{}
	for k, ms := range *h.byKind.Load() {
		next[k] = ms
	}
	for _, kind := range m.notifyTypes {
		next[kind] = append(slices.Clone(next[kind]), m)
	}
	h.byKind.Store(&next)
}

// unsubscribeModule removes m from the fan-out.
func (h *Host) unsubscribeModule(m *Module) {
	h.mu.Lock()
	defer h.mu.Unlock()
	next := map[string][]*Module{}
	for k, ms := range *h.byKind.Load() {
		kept := slices.DeleteFunc(slices.Clone(ms), func(o *Module) bool { return o == m })
		if len(kept) > 0 {
			next[k] = kept
		}
	}
	h.byKind.Store(&next)
}

// Module is the module started under name, or nil.
func (h *Host) Module(name string) *Module {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.byName[name]
}

// Modules are the modules in start order.
func (h *Host) Modules() []*Module {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.started)
}

// Stop stops every module, in reverse start order, within ctx; what could
// not be stopped in time is in the error. The Host starts no module after.
func (h *Host) Stop(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	ms := slices.Clone(h.started)
	h.mu.Unlock()
	var errs []error
	for i := len(ms) - 1; i >= 0; i-- {
		if err := ms[i].Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if h.unsubscribe != nil {
		h.unsubscribe()
	}
	if len(errs) == 0 {
		h.closeFunctions(ms)
	}
	return errors.Join(errs...)
}

// nextNotification is next_notification(name, failure) in Python: the
// module's next (kind, key), waiting for it with the GIL released; None
// when the module stops. failure is what the previous notify() raised.
func (h *Host) nextNotification(ctx context.Context, name string, failure any) (any, error) {
	m := h.Module(name)
	if m == nil {
		return nil, fmt.Errorf("no module %s", name)
	}
	if msg, ok := failure.(string); ok {
		m.notifyErrors.Add(1)
		m.mu.Lock()
		m.lastNotifyError = msg
		m.mu.Unlock()
	}
	n, ok := m.queue.pop(ctx)
	if !ok {
		return nil, nil
	}
	m.delivered.Add(1)
	return []any{n.kind, n.key}, nil
}

// setHealth is set_health(name, checks) in Python.
func (h *Host) setHealth(name string, checks map[string]any) error {
	m := h.Module(name)
	if m == nil {
		return fmt.Errorf("no module %s", name)
	}
	hc, err := health(checks)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.health = hc
	m.mu.Unlock()
	return nil
}

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
