package schedule

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func mustAdd(t *testing.T, s *Scheduler, task Task) {
	t.Helper()
	if err := s.Add(task); err != nil {
		t.Fatal(err)
	}
}

func stopNow(t *testing.T, s *Scheduler) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Stop(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestTasksRunOnTheirOwnIntervals(t *testing.T) {
	s := New(2, Options{})
	var fast, slow atomic.Int64
	mustAdd(t, s, Task{ID: "fast", Interval: 20 * time.Millisecond, Timeout: time.Second, MaxJitter: time.Millisecond,
		Run: func(context.Context) Outcome { fast.Add(1); return Outcome{Metrics: 3, Warnings: 1} }})
	mustAdd(t, s, Task{ID: "slow", Interval: 200 * time.Millisecond, Timeout: time.Second, MaxJitter: time.Millisecond,
		Run: func(context.Context) Outcome { slow.Add(1); return Outcome{} }})
	begin := time.Now()
	s.Start()
	time.Sleep(time.Second)
	stopNow(t, s)
	elapsed := time.Since(begin)
	f, sl := fast.Load(), slow.Load()
	// Each at most once per interval (fixed rate, never stacked), each at
	// least once; on a busy machine ticks may be late, not more frequent.
	maxFast, maxSlow := int64(elapsed/(20*time.Millisecond))+1, int64(elapsed/(200*time.Millisecond))+1
	if f < 1 || f > maxFast || sl < 1 || sl > maxSlow || f <= sl {
		t.Fatalf("runs in %v: fast=%d (at most %d) slow=%d (at most %d)", elapsed, f, maxFast, sl, maxSlow)
	}
	st := s.Stats()
	if st[0].ID != "fast" || st[0].Runs != uint64(f) || st[0].Warnings != uint64(f) || st[0].LastMetrics != 3 || st[0].Errors != 0 {
		t.Fatalf("stats: %+v", st[0])
	}
	if st[0].LastRun.IsZero() || st[0].AvgDuration <= 0 {
		t.Fatalf("durations not recorded: %+v", st[0])
	}
}

func TestOverrunningTickIsSkippedNotStacked(t *testing.T) {
	s := New(4, Options{})
	var running, maxRunning, runs atomic.Int64
	mustAdd(t, s, Task{ID: "slow", Interval: 10 * time.Millisecond, Timeout: time.Second, MaxJitter: time.Millisecond,
		Run: func(context.Context) Outcome {
			n := running.Add(1)
			for {
				m := maxRunning.Load()
				if n <= m || maxRunning.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(100 * time.Millisecond)
			running.Add(-1)
			runs.Add(1)
			return Outcome{}
		}})
	s.Start()
	time.Sleep(350 * time.Millisecond)
	stopNow(t, s)
	st := s.Stats()[0]
	if maxRunning.Load() != 1 {
		t.Fatalf("runs of one task overlapped: %d at once", maxRunning.Load())
	}
	// A run lasts ten intervals: most ticks find it going.
	if st.Skipped == 0 || st.Skipped < st.Runs {
		t.Fatalf("expected more skipped ticks than runs, got %d (runs %d)", st.Skipped, st.Runs)
	}
	if st.Runs != uint64(runs.Load()) {
		t.Fatalf("runs %d, counted %d", runs.Load(), st.Runs)
	}
}

func TestRunnerPoolBoundsConcurrency(t *testing.T) {
	s := New(2, Options{})
	var running, maxRunning atomic.Int64
	for i := range 8 {
		mustAdd(t, s, Task{ID: string(rune('a' + i)), Interval: 5 * time.Millisecond, Timeout: time.Second, MaxJitter: time.Millisecond,
			Run: func(context.Context) Outcome {
				n := running.Add(1)
				for {
					m := maxRunning.Load()
					if n <= m || maxRunning.CompareAndSwap(m, n) {
						break
					}
				}
				// Stay until a second run is going too (or a while has
				// passed), so that both runners are seen in use.
				for wait := time.Now().Add(time.Second); running.Load() < 2 && time.Now().Before(wait); {
					time.Sleep(time.Millisecond)
				}
				time.Sleep(5 * time.Millisecond)
				running.Add(-1)
				return Outcome{}
			}})
	}
	s.Start()
	time.Sleep(500 * time.Millisecond)
	stopNow(t, s)
	if got := maxRunning.Load(); got != 2 {
		t.Fatalf("max concurrent runs %d, want 2", got)
	}
}

func TestRunPastItsTimeoutIsCancelled(t *testing.T) {
	s := New(1, Options{})
	mustAdd(t, s, Task{ID: "stuck", Interval: time.Hour, Timeout: 50 * time.Millisecond, MaxJitter: time.Millisecond,
		Run: func(ctx context.Context) Outcome {
			<-ctx.Done()
			return Outcome{Err: ctx.Err()}
		}})
	s.Start()
	deadline := time.Now().Add(2 * time.Second)
	for s.Stats()[0].Runs == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	stopNow(t, s)
	st := s.Stats()[0]
	if st.Runs != 1 || st.Timeouts != 1 || st.Errors != 1 || !errors.Is(st.LastErr, context.DeadlineExceeded) {
		t.Fatalf("stats: %+v", st)
	}
	if st.LastDuration < 50*time.Millisecond || st.LastDuration > 5*time.Second {
		t.Fatalf("timed out after %v", st.LastDuration)
	}
}

func TestStopLetsInFlightRunsFinish(t *testing.T) {
	s := New(1, Options{})
	started := make(chan struct{})
	var finished atomic.Bool
	mustAdd(t, s, Task{ID: "finishing", Interval: time.Hour, Timeout: time.Minute, MaxJitter: time.Millisecond,
		Run: func(ctx context.Context) Outcome {
			close(started)
			time.Sleep(100 * time.Millisecond)
			finished.Store(ctx.Err() == nil)
			return Outcome{}
		}})
	s.Start()
	<-started
	stopNow(t, s)
	if !finished.Load() {
		t.Fatal("the run in flight was cancelled although it finished within the deadline")
	}
}

func TestStopCancelsRunsPastTheDeadline(t *testing.T) {
	s := New(1, Options{})
	started := make(chan struct{})
	mustAdd(t, s, Task{ID: "long", Interval: time.Hour, Timeout: time.Minute, MaxJitter: time.Millisecond,
		Run: func(ctx context.Context) Outcome {
			close(started)
			<-ctx.Done()
			return Outcome{Err: ctx.Err()}
		}})
	s.Start()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	begin := time.Now()
	if err := s.Stop(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	// The deadline, then as long as the run takes to return once cancelled.
	if took := time.Since(begin); took < 50*time.Millisecond || took > 5*time.Second {
		t.Fatalf("Stop took %v", took)
	}
	if st := s.Stats()[0]; !errors.Is(st.LastErr, context.Canceled) || st.Timeouts != 0 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestStopReportsRunsThatIgnoreCancellation(t *testing.T) {
	s := New(1, Options{})
	started := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	mustAdd(t, s, Task{ID: "deaf", Interval: time.Hour, Timeout: time.Minute, MaxJitter: time.Millisecond,
		Run: func(context.Context) Outcome { close(started); <-release; return Outcome{} }})
	s.Start()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := s.Stop(ctx, 50*time.Millisecond)
	if err == nil {
		t.Fatal("Stop returned nil with a run still going")
	}
}

func TestAddRejectsBadTasks(t *testing.T) {
	s := New(0, Options{})
	run := func(context.Context) Outcome { return Outcome{} }
	for _, task := range []Task{
		{ID: "no-interval", Timeout: time.Second, Run: run},
		{ID: "negative", Interval: -time.Second, Timeout: time.Second, Run: run},
		{ID: "no-timeout", Interval: time.Second, Run: run},
		{ID: "no-run", Interval: time.Second, Timeout: time.Second},
	} {
		if err := s.Add(task); err == nil {
			t.Errorf("%s: accepted", task.ID)
		}
	}
	s.Start()
	if err := s.Add(Task{ID: "late", Interval: time.Second, Timeout: time.Second, Run: run}); err == nil {
		t.Error("Add after Start accepted")
	}
	stopNow(t, s)
	stopNow(t, s) // idempotent
}

// A run that goes on past its timeout gives its runner up at once: with one
// runner and a task that ignores its cancellation, another task keeps its
// schedule. After Grace the late run is stuck (abandoned, its task not run
// again); when it returns at last, its result is dropped and its task runs
// again.
func TestALateRunGivesUpItsRunnerAndIsAbandoned(t *testing.T) {
	s := New(1, Options{Grace: 200 * time.Millisecond})
	release := make(chan struct{})
	var hangs, dropped atomic.Int64
	mustAdd(t, s, Task{ID: "hangs", Interval: 10 * time.Millisecond, Timeout: 50 * time.Millisecond, MaxJitter: time.Millisecond,
		Run: func(ctx context.Context) Outcome {
			if hangs.Add(1) == 1 {
				<-release // deaf to its context
			}
			if !Finish(ctx) {
				dropped.Add(1)
			}
			return Outcome{Metrics: 1}
		}})
	var healthy atomic.Int64
	mustAdd(t, s, Task{ID: "healthy", Interval: 20 * time.Millisecond, Timeout: time.Second, MaxJitter: time.Millisecond,
		Run: func(context.Context) Outcome { healthy.Add(1); return Outcome{} }})
	s.Start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := s.Stats()
		if st[0].Stuck && healthy.Load() >= 20 {
			if st[0].Abandoned != 1 || !st[0].Running || s.Stuck() != 1 {
				t.Fatalf("stuck stats: %+v (Stuck() %d)", st[0], s.Stuck())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no stuck run, or the healthy task starved: %+v, healthy ran %d", st[0], healthy.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := hangs.Load(); got != 1 {
		t.Fatalf("the stuck task ran again (%d runs) while its run was stuck", got)
	}
	close(release)
	for deadline := time.Now().Add(10 * time.Second); hangs.Load() < 3; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the task did not run again after its stuck run returned")
		}
	}
	stopNow(t, s)
	st := s.Stats()[0]
	if dropped.Load() != 1 || st.Stuck || st.Abandoned != 1 || s.Stuck() != 0 {
		t.Fatalf("after the stuck run returned: dropped %d, %+v", dropped.Load(), st)
	}
	// The dropped run is not counted as a run: only the later ones are.
	if st.Runs != uint64(hangs.Load()-1) {
		t.Fatalf("runs %d, want %d", st.Runs, hangs.Load()-1)
	}
}

// At most MaxOverdue late runs get a replacement runner: past that the pool
// shrinks instead of growing without bound.
func TestLateRunsGetAtMostMaxOverdueReplacements(t *testing.T) {
	s := New(1, Options{Grace: time.Hour, MaxOverdue: 1})
	release := make(chan struct{})
	defer close(release)
	var started atomic.Int64
	for _, id := range []string{"a", "b"} {
		mustAdd(t, s, Task{ID: id, Interval: time.Hour, Timeout: 20 * time.Millisecond, MaxJitter: time.Millisecond,
			Run: func(context.Context) Outcome { started.Add(1); <-release; return Outcome{} }})
	}
	var healthy atomic.Int64
	mustAdd(t, s, Task{ID: "healthy", Interval: 10 * time.Millisecond, Timeout: time.Second, MaxJitter: time.Millisecond,
		Run: func(context.Context) Outcome { healthy.Add(1); return Outcome{} }})
	s.Start()
	// Both hanging tasks start: the second on the one replacement runner.
	for deadline := time.Now().Add(10 * time.Second); started.Load() < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second hanging task never got a runner")
		}
	}
	// Its lateness gets no replacement: nothing runs the healthy task.
	time.Sleep(200 * time.Millisecond)
	before := healthy.Load()
	time.Sleep(300 * time.Millisecond)
	if after := healthy.Load(); after != before {
		t.Fatalf("the healthy task ran %d more times with both runners taken and no replacement allowed", after-before)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := s.Stop(ctx, 10*time.Millisecond); err == nil {
		t.Fatal("Stop returned nil with two runs still going")
	}
}
