package schedule

import (
	"context"
	"sync"
	"time"
)

// runContext is the context of one run: it ends at the run's deadline (its
// runner's timer) or when the scheduler cancels the runs at shutdown, and
// Finish finds the run through it. It is one allocation, where
// context.WithValue, WithTimeout and an AfterFunc for the scheduler's own
// late handling took several, with a timer and two children maps, on every
// run of every instance.
//
// It carries no values but the run (it has no parent), so context.Cause
// of it is its Err.
type runContext struct {
	run
	s        *Scheduler
	e        *entry
	deadline time.Time

	mu     sync.Mutex
	done   chan struct{} // made by the first Done
	err    error
	afters []*afterFunc // registered by AfterFunc (contexts derived from this one)
}

// afterFunc is one AfterFunc registration; f is nil once stopped or run.
type afterFunc struct{ f func() }

var closedDone = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (c *runContext) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *runContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		if c.err != nil {
			return closedDone
		}
		c.done = make(chan struct{})
	}
	return c.done
}

func (c *runContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *runContext) Value(key any) any {
	if key == (runKey{}) {
		return &c.run
	}
	return nil
}

// AfterFunc runs f in its own goroutine once the context ends; the
// context package uses it for contexts derived from this one.
func (c *runContext) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	a := &afterFunc{f: f}
	c.afters = append(c.afters, a)
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		stopped := a.f != nil
		a.f = nil
		return stopped
	}
}

// end ends the context with err (once); with late, it hands the run to the
// scheduler's late handling if it is still going (its deadline passed, or
// Stop cancelled it), else the run has returned and this releases it.
func (c *runContext) end(err error, late bool) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
	afters := c.afters
	c.afters = nil
	for _, a := range afters {
		if f := a.f; f != nil {
			a.f = nil
			go f()
		}
	}
	c.mu.Unlock()
	if late {
		c.s.late(c.e, &c.run)
	}
}

var _ context.Context = (*runContext)(nil)
