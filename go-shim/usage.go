package pyhost

import (
	"sync"
	"time"
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
