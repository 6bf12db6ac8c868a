package pyhost

import (
	"sync"
	"time"

	"pyhost.dev/pyhost/internal/capi"
)

// Usage is what one run cost, measured by the run itself (see
// docs/agent.md, "What each check costs", for how exact each figure is).
type Usage struct {
	// Measured is false when accounting is off (Options.DisableAccounting).
	Measured bool
	// Wall is the run's duration in the engine, from asking for the GIL to
	// the end of the run (Result.Duration is this, when measured).
	Wall time.Duration
	// CPU is the run's CPU time on its thread, time in C included. When
	// CPUExact is false it was not read from the thread's CPU clock (the
	// run was short, see the docs) and is the time the run held the GIL.
	CPU      time.Duration
	CPUExact bool
	// GILWait is how long the run waited to take the GIL before it began.
	GILWait time.Duration
	// Memory is false when Python memory is not counted (the process's
	// first Runtime started with accounting off).
	Memory bool
	// Allocated is the Python memory the run allocated, in bytes.
	Allocated uint64
	// Retained is the Python memory the check's runs (and its construction)
	// allocated that is still alive at the end of this run, in bytes.
	Retained uint64
}

// CheckStats is what a check's runs cost so far, summed over every run that
// returned, cancelled and late ones included.
type CheckStats struct {
	Runs int64
	// Wall is the runs' total duration as Run measured it.
	Wall    time.Duration
	CPU     time.Duration
	GILWait time.Duration
	// Allocated is the Python memory all runs allocated, in bytes.
	Allocated uint64
	// Retained is Usage.Retained of the latest run.
	Retained uint64
	// Last is the latest run's usage.
	Last Usage
}

// usageTotals accumulates a check's usage; runs of one check never overlap,
// but Stats may be called from any goroutine.
type usageTotals struct {
	mu    sync.Mutex
	stats CheckStats
}

func (t *usageTotals) add(res *Result) {
	t.mu.Lock()
	s := &t.stats
	s.Runs++
	s.Wall += res.Duration
	if u := res.Usage; u.Measured {
		s.CPU += u.CPU
		s.GILWait += u.GILWait
		s.Allocated += u.Allocated
		s.Retained = u.Retained
		s.Last = u
	}
	t.mu.Unlock()
}

// Stats returns what the check's runs have cost so far. It stays readable
// after Close.
func (c *Check) Stats() CheckStats {
	c.usage.mu.Lock()
	defer c.usage.mu.Unlock()
	return c.usage.stats
}

// Meter is the account of a plugin that is not a check — a module, a hook
// point — so that what it costs can be told apart: typed calls of the
// Functions given to it (Function.SetMeter) add their time and the Python
// memory they allocate to it. With accounting off, calls add nothing.
type Meter struct {
	rt *Runtime
	id uint64
}

// MeterUsage is what the calls made under a Meter cost so far.
type MeterUsage struct {
	// Calls ended; InFlight calls going on now.
	Calls, InFlight uint64
	// Wall and GILWait are totals over the ended calls, from asking for the
	// GIL to the end, and the wait to take it.
	Wall, GILWait time.Duration
	// CPU is the ended calls' CPU time plus, so far, that of calls going on
	// that read the CPU clock (a long call, such as a module's serve loop,
	// shows its CPU time while it runs).
	CPU time.Duration
	// Memory is false when Python memory is not counted (see Usage.Memory).
	Memory bool
	// Allocated is the Python memory the calls allocated; Retained the part
	// of it still alive.
	Allocated, Retained uint64
}

// NewMeter makes a Meter. Meters are never freed (a process may make
// about four million); one per plugin is the use.
func (rt *Runtime) NewMeter() (*Meter, error) {
	rid, err := rt.handle()
	if err != nil {
		return nil, err
	}
	id, err := capi.NewMeter(rid)
	if err != nil {
		return nil, wrapErr("new meter", err)
	}
	return &Meter{rt: rt, id: id}, nil
}

// Usage reads the meter. It works after the runtime closed.
func (m *Meter) Usage() (MeterUsage, error) {
	if m == nil {
		return MeterUsage{}, ErrClosed
	}
	u, err := capi.ReadMeter(m.rt.id, m.id)
	if err != nil {
		return MeterUsage{}, wrapErr("read meter", err)
	}
	return MeterUsage{
		Calls: u.Calls, InFlight: u.InFlight,
		Wall: time.Duration(u.WallNS), GILWait: time.Duration(u.GILWaitNS), CPU: time.Duration(u.CPUNS),
		Memory: u.Memory, Allocated: u.AllocatedBytes, Retained: u.RetainedBytes,
	}, nil
}

// UnattributedMemory is the Python memory allocated outside every check
// run and metered call — imports, configuration, calls no meter counts —
// and the part of it still alive, in bytes (0, 0 when memory is not
// counted). It works after the runtime closed.
func (rt *Runtime) UnattributedMemory() (allocated, retained uint64, err error) {
	u, err := capi.ReadMeter(rt.id, 0)
	if err != nil {
		return 0, 0, wrapErr("read unattributed memory", err)
	}
	return u.AllocatedBytes, u.RetainedBytes, nil
}

// SetMeter counts f's typed calls (Invoke, InvokeContext and the hook
// points' calls) under m from now on; nil stops counting them. Calls with
// JSON (Call, AppendCall) are not counted.
func (f *Function) SetMeter(m *Meter) {
	if m == nil {
		f.meter.Store(0)
		return
	}
	f.meter.Store(m.id)
}
