package pyhost

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// endingContext is a context with an AfterFunc method of its own, as the
// agent's run contexts have: Run registers its cancel through it.
type endingContext struct {
	context.Context // Background: no deadline, no values
	mu              sync.Mutex
	done            chan struct{}
	err             error
	registered      int
	stopped         int
	doneAsked       int  // Done calls: context.AfterFunc's wrapper makes one
	hideErr         bool // Err says nil even once ended: the run then starts
	afters          []*func()
}

func newEndingContext() *endingContext {
	return &endingContext{Context: context.Background(), done: make(chan struct{})}
}

func (c *endingContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.doneAsked++
	return c.done
}

func (c *endingContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hideErr {
		return nil
	}
	return c.err
}

func (c *endingContext) AfterFunc(f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.registered++
	if c.err != nil {
		go f()
		return func() bool { return false }
	}
	slot := &f
	c.afters = append(c.afters, slot)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if *slot == nil {
			return false
		}
		*slot = nil
		c.stopped++
		return true
	}
}

func (c *endingContext) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.err = context.Canceled
	close(c.done)
	for _, slot := range c.afters {
		if f := *slot; f != nil {
			*slot = nil
			go f()
		}
	}
}

func TestARunRegistersItsCancelWithTheContextsOwnAfterFunc(t *testing.T) {
	rt, _ := startRuntime(t)
	fast := loadCheck(t, rt, "trivial.py", nil)
	ctx := newEndingContext()
	for range 50 {
		if _, err := fast.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if ctx.registered != 50 || ctx.stopped != 50 || ctx.doneAsked != 0 {
		t.Errorf("registered %d, stopped %d, Done asked %d: want every run to register and stop once, directly",
			ctx.registered, ctx.stopped, ctx.doneAsked)
	}

	slow := loadCheck(t, rt, "slow.py", map[string]any{"seconds": 60})
	ctx = newEndingContext()
	time.AfterFunc(300*time.Millisecond, ctx.end)
	start := time.Now()
	res, err := slow.Run(ctx)
	if !errors.Is(err, ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want ErrCancelled and Canceled", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("cancellation took %v", took)
	}
	if res == nil || !res.Cancelled {
		t.Errorf("result = %+v, want a cancelled run", res)
	}
	// A run under a context that has ended does not start; the next run,
	// under a live context, is not touched by the watches reused.
	if _, err := slow.Run(ctx); !errors.Is(err, ErrCancelled) {
		t.Errorf("run under an ended context: err = %v", err)
	}
	// A context that ended between the run's check of Err and its
	// registration runs the cancel at once: the run is cancelled, not run
	// for its 60 s.
	ended := newEndingContext()
	ended.end()
	ended.hideErr = true
	start = time.Now()
	if _, err := slow.Run(ended); !errors.Is(err, ErrCancelled) {
		t.Errorf("run registered on an ended context: err = %v, want ErrCancelled", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the run registered on an ended context took %v", took)
	}
	// The watches those runs used, reused, still cancel the same checks.
	ctx = newEndingContext()
	time.AfterFunc(300*time.Millisecond, ctx.end)
	if _, err := slow.Run(ctx); !errors.Is(err, ErrCancelled) {
		t.Errorf("second cancelled run: err = %v", err)
	}
	for range 20 {
		if _, err := fast.Run(newEndingContext()); err != nil {
			t.Fatalf("run after the cancelled ones: %v", err)
		}
	}
}
