package pyhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"pyhost.dev/pyhost/internal/capi"
)

// CheckClass is a loaded Python check class.
type CheckClass struct {
	rt     *Runtime
	id     uint64
	closed atomic.Bool
}

// LoadCheckClass loads a check class from source: a path to a .py file, or
// an importable module name. className picks the class; empty means the one
// AgentCheck subclass in the module that has no subclass of its own.
func (rt *Runtime) LoadCheckClass(source, className string) (*CheckClass, error) {
	rid, err := rt.handle()
	if err != nil {
		return nil, err
	}
	id, err := capi.LoadCheckClass(rid, source, className)
	runtime.KeepAlive(rt)
	if err != nil {
		return nil, wrapErr("load check class "+source, err)
	}
	c := &CheckClass{rt: rt, id: id}
	runtime.SetFinalizer(c, func(c *CheckClass) { _ = c.Close() })
	return c, nil
}

func (c *CheckClass) handle() (uint64, uint64, error) {
	if c == nil || c.closed.Load() {
		return 0, 0, ErrClosed
	}
	rid, err := c.rt.handle()
	return rid, c.id, err
}

// Close frees the class. Checks made from it keep working. Idempotent.
func (c *CheckClass) Close() error {
	if c == nil || !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	runtime.SetFinalizer(c, nil)
	rid, err := c.rt.handle()
	if err != nil {
		return nil // the runtime's shutdown freed it
	}
	return wrapErr("free check class", capi.FreeCheckClass(rid, c.id))
}

// Check is a check instance: a class with its name and configuration.
type Check struct {
	rt      *Runtime
	id      uint64
	name    string
	checkID string
	closed  atomic.Bool
	// runs is the id of the check's latest run, so a cancellation names the
	// run it is for and still lands if it arrives before that run has
	// started. Ids increase (they come from one process-wide counter).
	runs  atomic.Uint64
	usage usageTotals
}

// CheckID derives a check's id from its name and configuration, as
// "name:<16 hex digits>": stable across restarts, different for different
// configurations.
func CheckID(name string, initConfig, instance map[string]any) (string, error) {
	h := fnv.New64a()
	for _, v := range []map[string]any{initConfig, instance} {
		b, err := json.Marshal(v) // map keys are sorted: a canonical form
		if err != nil {
			return "", err
		}
		h.Write(b)
		h.Write([]byte{0})
	}
	return fmt.Sprintf("%s:%016x", name, h.Sum64()), nil
}

// NewCheck creates a check instance: class(name, init_config, [instance]).
// The configuration crosses as JSON and becomes Python objects natively.
// A nil map means an empty one. Check ids are unique in the process (the
// in-memory aggregator routes submissions by id): the same name and
// configuration twice fails with ErrConflict until the first is closed
// and its last run has returned (a run abandoned past its timeout keeps the
// id, so that it cannot submit into a new check of that id).
func (c *CheckClass) NewCheck(name string, initConfig, instance map[string]any) (*Check, error) {
	rid, cid, err := c.handle()
	if err != nil {
		return nil, err
	}
	if initConfig == nil {
		initConfig = map[string]any{}
	}
	if instance == nil {
		instance = map[string]any{}
	}
	checkID, err := CheckID(name, initConfig, instance)
	if err != nil {
		return nil, &Error{Op: "new check " + name, Class: ErrInvalidArgument, Msg: err.Error()}
	}
	initJSON, _ := json.Marshal(initConfig)
	instJSON, _ := json.Marshal(instance)
	return c.newCheck(rid, cid, name, checkID, initJSON, instJSON)
}

// NewCheckJSON is NewCheck with the configuration already in JSON (objects).
func (c *CheckClass) NewCheckJSON(name string, initConfigJSON, instanceJSON []byte) (*Check, error) {
	rid, cid, err := c.handle()
	if err != nil {
		return nil, err
	}
	var initConfig, instance map[string]any
	for _, p := range []struct {
		raw []byte
		dst *map[string]any
	}{{initConfigJSON, &initConfig}, {instanceJSON, &instance}} {
		if len(p.raw) == 0 {
			continue
		}
		if err := json.Unmarshal(p.raw, p.dst); err != nil {
			return nil, &Error{Op: "new check " + name, Class: ErrInvalidArgument, Msg: "configuration is not a JSON object: " + err.Error()}
		}
	}
	checkID, err := CheckID(name, initConfig, instance)
	if err != nil {
		return nil, &Error{Op: "new check " + name, Class: ErrInvalidArgument, Msg: err.Error()}
	}
	return c.newCheck(rid, cid, name, checkID, initConfigJSON, instanceJSON)
}

func (c *CheckClass) newCheck(rid, cid uint64, name, checkID string, initJSON, instJSON []byte) (*Check, error) {
	id, err := capi.NewCheck(rid, cid, name, checkID, initJSON, instJSON)
	runtime.KeepAlive(c)
	if err != nil {
		return nil, wrapErr("new check "+name, err)
	}
	chk := &Check{rt: c.rt, id: id, name: name, checkID: checkID}
	runtime.SetFinalizer(chk, func(chk *Check) { _ = chk.Close() })
	return chk, nil
}

// Name is the check's name.
func (c *Check) Name() string { return c.name }

// ID is the check's id (see CheckID).
func (c *Check) ID() string { return c.checkID }

func (c *Check) handle() (uint64, uint64, error) {
	if c == nil || c.closed.Load() {
		return 0, 0, ErrClosed
	}
	rid, err := c.rt.handle()
	return rid, c.id, err
}

// cancelAgain is how often a cancelled run that goes on is asked again.
const cancelAgain = time.Second

// afterFuncer is a context with an AfterFunc method of its own, which
// context.AfterFunc would use (the agent's run contexts have one), with
// its contract: f runs in its own goroutine once the context ends, and stop
// reports whether it kept f from running. Registering through it directly
// skips the context, channel and registration context.AfterFunc makes of
// its own on every run.
type afterFuncer interface {
	AfterFunc(f func()) (stop func() bool)
}

// runWatch cancels one run once its context ends (see Run). Watches are
// pooled: most runs end without their context ending, and a run's watch
// then costs no allocation.
type runWatch struct {
	rid, id, runID uint64
	stop           func() bool // the registration with the run's context
	// cancelling is the cancel's, from its registration until it returns.
	cancelling sync.WaitGroup
	cancelFn   func() // w.cancel, bound once

	mu   sync.Mutex
	done bool          // the run has returned
	wake chan struct{} // made by a cancel waiting to ask again; closed when done
}

var runWatches = sync.Pool{New: func() any {
	w := &runWatch{}
	w.cancelFn = w.cancel
	return w
}}

// watchRun arranges for run runID to be cancelled when ctx ends; nil when
// ctx never ends. The caller calls returned when the run has returned.
func watchRun(ctx context.Context, rid, id, runID uint64) *runWatch {
	a, direct := ctx.(afterFuncer)
	if !direct && ctx.Done() == nil {
		return nil
	}
	w := runWatches.Get().(*runWatch)
	w.rid, w.id, w.runID = rid, id, runID
	w.cancelling.Add(1)
	if direct {
		w.stop = a.AfterFunc(w.cancelFn)
	} else {
		w.stop = context.AfterFunc(ctx, w.cancelFn)
	}
	return w
}

// cancel asks the engine to cancel the run, and again every cancelAgain
// while it goes on: a check that swallowed CheckCancelled gets it again at
// its next safe point.
func (w *runWatch) cancel() {
	defer w.cancelling.Done()
	for {
		_ = capi.CancelCheck(w.rid, w.id, w.runID)
		w.mu.Lock()
		if w.done {
			w.mu.Unlock()
			return
		}
		if w.wake == nil {
			w.wake = make(chan struct{})
		}
		wake := w.wake
		w.mu.Unlock()
		select {
		case <-wake:
			return
		case <-time.After(cancelAgain):
		}
	}
}

// returned ends the watch of a run that has returned. A cancel that has
// started is let finish first, so that the engine never sees calls of two
// runs out of order; then the watch goes back to the pool.
func (w *runWatch) returned() {
	if w == nil {
		return
	}
	w.mu.Lock()
	w.done = true
	if w.wake != nil {
		close(w.wake)
	}
	w.mu.Unlock()
	if w.stop() {
		w.cancelling.Done() // the cancel will never run
	}
	w.cancelling.Wait()
	w.stop, w.done, w.wake = nil, false, nil
	runWatches.Put(w)
}

// Run runs the check once on the calling goroutine and returns everything it
// submitted. If the check raised, the result holds what it submitted before
// and the error is a *PythonError. If ctx ends first, the run is stopped in
// steps that cannot leave shared state half-changed: the check's cancel() is
// called (the SDK's sets AgentCheck.cancelled) and, if the run has not
// returned 100 ms later, CheckCancelled is raised at the next line of the
// check's own code (never inside a library it called), again every second
// while it runs; the error then wraps ErrCancelled and ctx.Err(). A run
// blocked in C (a socket read, a sleep) stops when that call returns: Run
// returns only when Python does. A second Run of the same check while one is
// going fails with ErrBusy.
func (c *Check) Run(ctx context.Context) (*Result, error) {
	res := &Result{}
	ran, err := c.run(ctx, res)
	if !ran {
		return nil, err
	}
	return res, err
}

// RunInto is Run writing into res, whose slices it reuses: a caller that
// consumes each result before the next run (a scheduler, an aggregator)
// allocates nothing per metric. res is reset first; values from an earlier
// run must not be kept, tag slices included, as they are overwritten.
func (c *Check) RunInto(ctx context.Context, res *Result) error {
	_, err := c.run(ctx, res)
	return err
}

// run reports whether the check ran (res then holds its result).
func (c *Check) run(ctx context.Context, res *Result) (bool, error) {
	res.reset()
	rid, id, err := c.handle()
	if err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("%w: %w", ErrCancelled, err)
	}
	// Run ids are unique in the process: a run's id is also the token Go
	// functions it calls get their context by.
	runID := nextToken()
	c.runs.Store(runID)
	watch := watchRun(ctx, rid, id, runID)
	start, call := c.rt.runStart(), within(runID, ctx)
	err = capi.RunCheck(rid, id, runID, func(batch []byte) error {
		return decodeBatch(batch, res)
	})
	call.leave(runID)
	watch.returned()
	return c.finish(ctx, res, start, err)
}

// runStart is when a run starts, for its Duration; with accounting on, the
// engine times the run and one clock reading serves both.
func (rt *Runtime) runStart() time.Time {
	if rt.accounting {
		return time.Time{}
	}
	return time.Now()
}

// finish turns a run's outcome into Run's results.
func (c *Check) finish(ctx context.Context, res *Result, start time.Time, err error) (bool, error) {
	runtime.KeepAlive(c)
	if err != nil {
		res.reset()
		if c.closed.Load() {
			return false, ErrClosed
		}
		return false, wrapErr("run check "+c.checkID, err)
	}
	if res.Usage.Measured {
		res.Duration = res.Usage.Wall
	} else {
		res.Duration = time.Since(start)
	}
	c.usage.add(res)
	switch {
	case res.Cancelled && ctx.Err() != nil:
		return true, fmt.Errorf("%w: %w", ErrCancelled, ctx.Err())
	case res.Cancelled:
		return true, ErrCancelled
	case res.Error != nil:
		return true, res.Error
	}
	return true, nil
}

// Cancel stops the check's current run, if any: one in progress, or one
// that Run has begun but that has not reached Python yet.
func (c *Check) Cancel() error {
	rid, id, err := c.handle()
	if err != nil {
		return err
	}
	run := c.runs.Load()
	cancelCall(run) // Go functions the run is in see it too
	return wrapErr("cancel check "+c.checkID, capi.CancelCheck(rid, id, run))
}

// Close frees the check. A run in progress finishes. Idempotent.
func (c *Check) Close() error {
	if c == nil || !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	runtime.SetFinalizer(c, nil)
	rid, err := c.rt.handle()
	if err != nil {
		return nil // the runtime's shutdown freed it
	}
	err = capi.FreeCheck(rid, c.id)
	if errors.Is(wrapErr("", err), ErrShutdown) {
		return nil
	}
	return wrapErr("free check "+c.checkID, err)
}
