package schedule

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// runOnce runs task once on a scheduler of one runner and waits for it.
func runOnce(t *testing.T, timeout time.Duration, run func(context.Context) Outcome) Stats {
	t.Helper()
	s := New(1, Options{})
	done := make(chan struct{})
	mustAdd(t, s, Task{ID: "once", Interval: time.Hour, Timeout: timeout, MaxJitter: time.Millisecond,
		Run: func(ctx context.Context) Outcome { defer close(done); return run(ctx) }})
	s.Start()
	<-done
	stopNow(t, s)
	return s.Stats()[0]
}

// A run's context behaves as context.WithTimeout's would: its deadline,
// Done and Err, contexts derived from it and AfterFunc end with it, and
// Cause is its Err.
func TestARunsContextEndsAtItsDeadlineWithWhatDerivesFromIt(t *testing.T) {
	var derivedErr, afterErr, cause error
	var deadline time.Time
	var hasDeadline bool
	st := runOnce(t, 50*time.Millisecond, func(ctx context.Context) Outcome {
		deadline, hasDeadline = ctx.Deadline()
		derived, cancel := context.WithCancel(ctx)
		defer cancel()
		after := make(chan error, 1)
		context.AfterFunc(ctx, func() { after <- ctx.Err() })
		stopped := context.AfterFunc(ctx, func() { t.Error("a stopped AfterFunc ran") })
		if !stopped() {
			t.Error("stopping an AfterFunc before the end reported false")
		}
		<-derived.Done()
		derivedErr, afterErr, cause = derived.Err(), <-after, context.Cause(ctx)
		return Outcome{Err: ctx.Err()}
	})
	if !hasDeadline || time.Until(deadline) > 0 {
		t.Fatalf("deadline %v (%v), want one in the past", deadline, hasDeadline)
	}
	for name, err := range map[string]error{"derived": derivedErr, "after": afterErr, "cause": cause, "run": st.LastErr} {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: %v, want the deadline exceeded", name, err)
		}
	}
	if st.Timeouts != 1 {
		t.Fatalf("stats: %+v", st)
	}
}

// What a run leaves waiting on its context (a goroutine it started, a
// derived context) ends when the run returns, as with a cancel deferred.
func TestARunsContextEndsWhenTheRunReturns(t *testing.T) {
	var kept context.Context
	var finished atomic.Bool
	st := runOnce(t, time.Minute, func(ctx context.Context) Outcome {
		derived, cancel := context.WithCancel(ctx)
		_ = cancel
		kept = derived
		finished.Store(Finish(derived)) // found through a derived context
		return Outcome{}
	})
	select {
	case <-kept.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a context derived from a run did not end when the run returned")
	}
	if !errors.Is(kept.Err(), context.Canceled) || !finished.Load() || st.Runs != 1 || st.Errors != 0 {
		t.Fatalf("err %v, finish %v, stats %+v", kept.Err(), finished.Load(), st)
	}
}

// A run that begins after Stop cancelled the runs is cancelled at once.
func TestARunStartedAfterTheCancellationIsCancelled(t *testing.T) {
	s := New(1, Options{})
	s.cancelRuns()
	var err error
	d := newDeadline()
	defer d.timer.Stop()
	e := &entry{task: Task{ID: "late", Timeout: time.Minute, Run: func(ctx context.Context) Outcome {
		err = ctx.Err()
		return Outcome{}
	}}}
	s.entries = append(s.entries, e)
	close(s.stop) // no replacement runners
	s.runOne(e, d)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("the run saw %v, want it cancelled", err)
	}
}
