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
	afters          []*func()
}

func newEndingContext() *endingContext {
	return &endingContext{Context: context.Background(), done: make(chan struct{})}
}

func (c *endingContext) Done() <-chan struct{} { return c.done }

func (c *endingContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
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
	if ctx.registered != 50 || ctx.stopped != 50 {
		t.Errorf("registered %d, stopped %d: want every run to register and stop once", ctx.registered, ctx.stopped)
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
	if _, err := fast.Run(newEndingContext()); err != nil {
		t.Errorf("run after the cancelled ones: %v", err)
	}
}
