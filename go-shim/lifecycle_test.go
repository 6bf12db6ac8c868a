package pyhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"pyhost.dev/pyhost/internal/capi"
)

// signalLogs is a slog handler that closes a channel when a record with a
// given message arrives, and panics on records with another.
type signalLogs struct {
	mu      sync.Mutex
	waiting map[string]chan struct{}
	panicOn string
}

func newSignalLogs() *signalLogs { return &signalLogs{waiting: map[string]chan struct{}{}} }

// seen returns a channel closed when msg is logged (once per msg).
func (l *signalLogs) seen(msg string) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch, ok := l.waiting[msg]
	if !ok {
		ch = make(chan struct{})
		l.waiting[msg] = ch
	}
	return ch
}

func (l *signalLogs) Enabled(context.Context, slog.Level) bool { return true }
func (l *signalLogs) Handle(_ context.Context, r slog.Record) error {
	if l.panicOn != "" && r.Message == l.panicOn {
		panic("the log handler broke: " + r.Message)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if ch, ok := l.waiting[r.Message]; ok {
		select {
		case <-ch:
		default:
			close(ch)
		}
	}
	return nil
}
func (l *signalLogs) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *signalLogs) WithGroup(string) slog.Handler      { return l }

func waitFor(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// A Go log handler that panics while a check logs: the panic is recovered
// in the callback, the record dropped, and the check's run completes; its
// later runs work (they used to fail with ErrBusy forever).
func TestAPanickingLogHandlerLeavesTheCheckRunnable(t *testing.T) {
	logs := newSignalLogs()
	logs.panicOn = "please panic"
	rt, err := Start(Options{PythonPath: []string{testdata()}, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close() })
	chk := loadCheck(t, rt, "logs.py", map[string]any{"message": "please panic"})
	before := capi.CallbackPanics()
	for i := range 3 {
		res, err := chk.Run(context.Background())
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if len(res.Metrics) != 1 || res.Metrics[0].Name != "logs.ran" {
			t.Fatalf("run %d: metrics %+v", i, res.Metrics)
		}
	}
	if got := capi.CallbackPanics() - before; got != 3 {
		t.Errorf("%d panics recovered, want 3", got)
	}
}

// Close waits for a function call in flight, and that call completes.
func TestCloseWaitsForAFunctionCallInFlight(t *testing.T) {
	logs := newSignalLogs()
	rt, err := Start(Options{PythonPath: []string{testdata()}, Logger: slog.New(logs), ShutdownTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	fn, err := rt.LoadFunction("lifecycle", "sleep")
	if err != nil {
		t.Fatal(err)
	}
	started, slept := logs.seen("sleeping 0.5"), logs.seen("slept 0.5")
	var callErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, callErr = fn.Call([]byte(`[0.5]`))
	}()
	waitFor(t, "the call to start", started)
	if err := rt.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// The call logs "slept" just before it returns; its record reaches Go
	// during the call, so it is in before Close may return.
	select {
	case <-slept:
	default:
		t.Fatal("Close returned before the call in flight ended")
	}
	<-done
	if callErr != nil {
		t.Fatalf("the call in flight failed: %v", callErr)
	}
	if _, err := fn.Call([]byte(`[0]`)); !errors.Is(err, ErrShutdown) {
		t.Fatalf("a call after Close: %v, want ErrShutdown", err)
	}
}

// Calls racing Close end in success or ErrShutdown, never in an invalid
// handle (Close frees the handles they use).
func TestCallsRacingCloseSeeShutdown(t *testing.T) {
	for range 20 {
		rt, err := Start(Options{PythonPath: []string{testdata()}})
		if err != nil {
			t.Fatal(err)
		}
		fn, err := rt.LoadFunction("benchmod", "noop")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					if _, err := fn.Call(nil); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
		if err := rt.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if !errors.Is(err, ErrShutdown) {
				t.Fatalf("a call racing Close got %v, want ErrShutdown", err)
			}
		}
	}
}

// After a Close that timed out, the last call to leave frees what the
// runtime owns (its check ids included), and Close can be called again.
func TestCloseAfterATimeoutFreesWhenTheLastCallLeaves(t *testing.T) {
	logs := newSignalLogs()
	rt1, err := Start(Options{PythonPath: []string{testdata()}, Logger: slog.New(logs), ShutdownTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	class1, err := rt1.LoadCheckClass(testdata("checks", "trivial.py"), "")
	if err != nil {
		t.Fatal(err)
	}
	instance := map[string]any{"retry": "close"}
	chk1, err := class1.NewCheck("trivial", nil, instance)
	if err != nil {
		t.Fatal(err)
	}
	fn, err := rt1.LoadFunction("lifecycle", "sleep")
	if err != nil {
		t.Fatal(err)
	}
	started := logs.seen("sleeping 1")
	done := make(chan error)
	go func() { _, err := fn.Call([]byte(`[1]`)); done <- err }()
	waitFor(t, "the call to start", started)
	if err := rt1.Close(); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Close with a call in flight: %v, want ErrTimeout", err)
	}

	rt2, err := Start(Options{PythonPath: []string{testdata()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt2.Close() })
	class2, err := rt2.LoadCheckClass(testdata("checks", "trivial.py"), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := class2.NewCheck("trivial", nil, instance); !errors.Is(err, ErrConflict) {
		t.Fatalf("the id while the first runtime still owns it: %v, want ErrConflict", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the call in flight: %v", err)
	}
	chk2, err := class2.NewCheck("trivial", nil, instance)
	if err != nil {
		t.Fatalf("the id after the last call left the closed runtime: %v", err)
	}
	if _, err := chk2.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := rt1.Close(); err != nil {
		t.Fatalf("Close again: %v", err)
	}
	if _, err := chk1.Run(context.Background()); !errors.Is(err, ErrShutdown) {
		t.Fatalf("a check of the closed runtime: %v, want ErrShutdown", err)
	}
}

// A Python thread whose log record reaches a Go handler that calls back
// into pyhost: the engine uses the thread's own state for that call and
// does not keep it (Python frees it when the thread ends).
func TestCallsBackFromAPythonThread(t *testing.T) {
	var rt *Runtime
	var calls sync.WaitGroup
	var errsMu sync.Mutex
	var errs []error
	handler := &callbackHandler{on: "from a python thread", do: func() {
		defer calls.Done()
		if _, err := rt.PythonInfo(); err != nil {
			errsMu.Lock()
			errs = append(errs, err)
			errsMu.Unlock()
		}
	}}
	var err error
	rt, err = Start(Options{PythonPath: []string{testdata()}, Logger: slog.New(handler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close() })
	fn, err := rt.LoadFunction("lifecycle", "log_from_thread")
	if err != nil {
		t.Fatal(err)
	}
	noop, err := rt.LoadFunction("benchmod", "noop")
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		calls.Add(1)
		if _, err := fn.Call([]byte(`["from a python thread"]`)); err != nil {
			t.Fatal(err)
		}
		// Each thread has ended; the process goes on calling Python.
		if _, err := noop.Call(nil); err != nil {
			t.Fatal(err)
		}
	}
	calls.Wait()
	if len(errs) > 0 {
		t.Fatalf("calls from the Python thread failed: %v", errs)
	}
}

type callbackHandler struct {
	on string
	do func()
}

func (h *callbackHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *callbackHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.on {
		h.do()
	}
	return nil
}
func (h *callbackHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *callbackHandler) WithGroup(string) slog.Handler      { return h }

// A cancellation that arrives before the run reaches Python still cancels
// it: with deadlines of 0–200 µs and 8 goroutines contending for the GIL,
// every run of a 30 s check ends cancelled (or, had it been quick enough,
// completed) soon after its deadline, none runs its 30 s.
func TestACancellationBeforeTheRunStartsStillCancelsIt(t *testing.T) {
	rt, _ := startRuntime(t)
	const goroutines, runs = 8, 25
	// Generous for a busy machine; a lost cancellation shows as a run of 30 s.
	const bound = 5 * time.Second
	var wg sync.WaitGroup
	failures := make(chan string, goroutines*runs)
	for g := range goroutines {
		chk := loadCheck(t, rt, "spin.py", map[string]any{"seconds": 30, "goroutine": g})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range runs {
				deadline := time.Duration(rand.IntN(200)) * time.Microsecond
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				start := time.Now()
				res, err := chk.Run(ctx)
				took := time.Since(start)
				cancel()
				switch {
				case err == nil:
					failures <- fmt.Sprintf("goroutine %d run %d completed a 30 s check in %v", g, i, took)
				case !errors.Is(err, ErrCancelled):
					failures <- fmt.Sprintf("goroutine %d run %d: %v", g, i, err)
				case took > deadline+bound:
					failures <- fmt.Sprintf("goroutine %d run %d ended %v after its %v deadline", g, i, took-deadline, deadline)
				case res != nil && !res.Cancelled:
					failures <- fmt.Sprintf("goroutine %d run %d: the result is not marked cancelled", g, i)
				}
			}
		}()
	}
	wg.Wait()
	close(failures)
	var all []string
	for f := range failures {
		all = append(all, f)
	}
	if len(all) > 0 {
		t.Fatalf("%d of %d runs:\n%s", len(all), goroutines*runs, strings.Join(all, "\n"))
	}
}

// Stopping checks again and again while they log through a shared
// logging.Handler leaves logging working for everyone: the cancellation is
// raised only at a line of the check's own code, never inside logging
// between a handler's acquire() and its try: (which would leak the lock and
// hang every later log call in the process).
func TestCancellingChecksThatLogLeavesLoggingWorking(t *testing.T) {
	rt, _ := startRuntime(t)
	const loopers, runs = 4, 30
	done := make(chan string, 1)
	go func() {
		var wg sync.WaitGroup
		var failed sync.Once
		fail := func(msg string) { failed.Do(func() { done <- msg }) }
		for g := range loopers {
			chk := loadCheck(t, rt, "logloop.py", map[string]any{"loop": true, "looper": g})
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range runs {
					ctx, cancel := context.WithTimeout(context.Background(), time.Duration(1+rand.IntN(20))*time.Millisecond)
					_, err := chk.Run(ctx)
					cancel()
					if !errors.Is(err, ErrCancelled) {
						fail(fmt.Sprintf("looper %d run %d: %v, want ErrCancelled", g, i, err))
						return
					}
				}
			}()
		}
		healthy := loadCheck(t, rt, "logloop.py", map[string]any{"loop": false})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range runs {
				res, err := healthy.Run(context.Background())
				if err != nil || len(res.Metrics) != 1 {
					fail(fmt.Sprintf("healthy run %d: %v %+v", i, err, res))
					return
				}
			}
		}()
		wg.Wait()
		fail("")
	}()
	select {
	case msg := <-done:
		if msg != "" {
			t.Fatal(msg)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the checks hung: a cancellation left a logging lock held")
	}
}

// A check that watches AgentCheck.cancelled (set by the SDK's cancel(),
// which the host calls first) finishes its run by itself, with what it
// submitted, before any CheckCancelled is raised.
func TestACooperativeCheckStopsByItself(t *testing.T) {
	rt, _ := startRuntime(t)
	chk := loadCheck(t, rt, "coop.py", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := chk.Run(ctx)
	if err != nil {
		t.Fatalf("a run that returned by itself: %v", err)
	}
	if len(res.Metrics) != 1 || res.Metrics[0].Name != "coop.stopped" || res.Cancelled {
		t.Fatalf("result %+v", res)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the run took %v", took)
	}
}

// A check's cancel() runs on a thread of its own: one that blocks holds up
// neither the run's return (the run saw the flag and returned) nor a
// shutdown. (On the cancelling thread, each waited out the cancel()'s
// minute.)
func TestABlockingCancelHoldsUpNeitherTheRunNorShutdown(t *testing.T) {
	const bound = 30 * time.Second // well under the minute cancel() blocks
	rt, err := Start(Options{PythonPath: []string{testdata()}, ShutdownTimeout: bound})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	chk := loadCheck(t, rt, "blocking_cancel.py", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := chk.Run(ctx)
	if err != nil || len(res.Metrics) != 1 || res.Metrics[0].Name != "blocking_cancel.stopped" {
		t.Fatalf("the run: %+v, %v", res, err)
	}
	if took := time.Since(start); took > bound {
		t.Fatalf("Run returned after %v: it waited for cancel()", took)
	}

	// A second run, cancelled by the shutdown.
	started := make(chan error, 1)
	go func() {
		_, err := chk.Run(context.Background())
		started <- err
	}()
	time.Sleep(100 * time.Millisecond) // into the run (if not, Close cancels it before it starts)
	start = time.Now()
	if err := rt.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if took := time.Since(start); took > bound {
		t.Fatalf("Close took %v: it waited for cancel()", took)
	}
	<-started
}
