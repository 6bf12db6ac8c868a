package pyhost

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pyhost.dev/pyhost/internal/capi"
)

// Concurrent calls queue at the call gate; each still gets its own answer.
func TestConcurrentCallsGetTheirOwnResults(t *testing.T) {
	rt, _ := startRuntime(t)
	add, err := rt.LoadFunction("benchmod", "add")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				out, err := add.Call([]byte(fmt.Sprintf("[%d, %d]", g, i)))
				if err != nil || string(out) != fmt.Sprint(g+i) {
					errs <- fmt.Errorf("add(%d, %d) = %s, %v", g, i, out, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A call that waits (GIL released) for another call must not hold the
// others back for good: the gate lets a long hold go.
func TestACallWaitingForAnotherCallDoesNotDeadlock(t *testing.T) {
	rt, _ := startRuntime(t)
	wait, err := rt.LoadFunction("benchmod", "wait_for_release")
	if err != nil {
		t.Fatal(err)
	}
	release, err := rt.LoadFunction("benchmod", "release")
	if err != nil {
		t.Fatal(err)
	}
	calls.Engage() // the waiting call holds the gate, as under contention
	waited := make(chan string, 1)
	go func() {
		out, err := wait.Call([]byte("[20]"))
		waited <- fmt.Sprint(string(out), err)
	}()
	time.Sleep(20 * time.Millisecond) // let the waiter take the gate
	start := time.Now()
	if out, err := release.Call(nil); err != nil || string(out) != "true" {
		t.Fatalf("release = %s, %v", out, err)
	}
	select {
	case got := <-waited:
		if got != "true<nil>" {
			t.Fatalf("wait_for_release = %s", got)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the waiting call never saw the release: the gate held the other call back")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("release took %v", d)
	}
}

// reentrantLog is a slog handler that makes a call from inside the host's
// log callback, on the thread (and goroutine) of the call that logged.
type reentrantLog struct {
	fn  atomic.Pointer[Function]
	got chan string
}

func (h *reentrantLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *reentrantLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *reentrantLog) WithGroup(string) slog.Handler            { return h }
func (h *reentrantLog) Handle(_ context.Context, r slog.Record) error {
	if fn := h.fn.Load(); fn != nil && strings.HasPrefix(r.Message, "adding") {
		out, err := fn.Call([]byte("[20, 22]"))
		h.got <- fmt.Sprint(r.Message, " → ", string(out), err)
	}
	return nil
}

// A call made from a host callback while another call is under way on the
// same thread (its Python thread state parked, not released) gets its own
// answer, and the outer call goes on with its own.
func TestACallFromALogCallbackInsideACall(t *testing.T) {
	h := &reentrantLog{got: make(chan string, 1)}
	rt, err := Start(Options{PythonPath: []string{testdata()}, Logger: slog.New(h)})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	add, err := rt.LoadFunction("benchmod", "add")
	if err != nil {
		t.Fatal(err)
	}
	calls.Engage() // the outer call holds the gate, as under contention
	h.fn.Store(add)
	logAndAdd, err := rt.LoadFunction("benchmod", "log_and_add")
	if err != nil {
		t.Fatal(err)
	}
	out, err := logAndAdd.Call([]byte("[1, 2]"))
	if err != nil || string(out) != "3" {
		t.Fatalf("outer call = %s, %v", out, err)
	}
	select {
	case got := <-h.got:
		if got != "adding 1 and 2 → 42<nil>" {
			t.Fatalf("inner call: %s", got)
		}
	default:
		t.Fatal("the log record never reached the host during the call")
	}
}

// RunInto reuses one Result: every run's values are complete and equal to
// what Run returns, and nothing of an earlier run is left over.
func TestRunIntoReusesTheResult(t *testing.T) {
	rt, _ := startRuntime(t)
	chk := loadCheck(t, rt, "simple.py", map[string]any{"tags": []any{"role:db"}, "value": 4.25, "warn": "disk nearly full"})
	want, err := chk.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var res Result
	for i := range 3 {
		if err := chk.RunInto(context.Background(), &res); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if len(res.Metrics) != len(want.Metrics) || len(res.Warnings) != 1 || len(res.ServiceChecks) != 1 || len(res.Events) != 1 {
			t.Fatalf("run %d: %+v", i, res)
		}
		for j, m := range res.Metrics {
			w := want.Metrics[j]
			if m.Name != w.Name || m.Value != w.Value || strings.Join(m.Tags, ",") != strings.Join(w.Tags, ",") {
				t.Errorf("run %d metric %d = %+v, want %+v", i, j, m, w)
			}
		}
	}
	// A failed run leaves the result empty, not holding the previous run.
	if err := chk.Close(); err != nil {
		t.Fatal(err)
	}
	if err := chk.RunInto(context.Background(), &res); err == nil {
		t.Fatal("RunInto on a closed check succeeded")
	}
	if len(res.Metrics) != 0 || len(res.Warnings) != 0 {
		t.Errorf("after a failed run: %+v", res)
	}
}

// The call gate stands aside while calls do not contend, and engages once
// one meets another in Python: the engine counts a call that found the GIL
// held by another thread, and the next call to leave engages the gate.
func TestCallsThatMeetInPythonEngageTheGate(t *testing.T) {
	rt, _ := startRuntime(t)
	count := capi.GILContention()
	if count == nil {
		t.Fatal("no contention count with a runtime started")
	}
	burn, err := rt.LoadFunction("metered", "burn")
	if err != nil {
		t.Fatal(err)
	}
	noop, err := rt.LoadFunction("benchmod", "noop")
	if err != nil {
		t.Fatal(err)
	}
	info, err := rt.PythonInfo()
	if err != nil {
		t.Fatal(err)
	}
	if len(info.VersionInfo) >= 2 && info.VersionInfo[0]*100+info.VersionInfo[1] >= 312 {
		// The engine cannot tell there whether another thread holds the
		// GIL: every call counts as contended.
		before := atomic.LoadUint32(count)
		if _, err := noop.Call(nil); err != nil {
			t.Fatal(err)
		}
		if atomic.LoadUint32(count) == before || !calls.Engaged() {
			t.Fatalf("CPython %s: a lone call left the count at %d, engaged %v", info.Version, before, calls.Engaged())
		}
		return
	}
	// Earlier tests may have left the gate engaged: with no calls it stands
	// aside again.
	deadline := time.Now().Add(10 * time.Second)
	for calls.Engaged() {
		if time.Now().After(deadline) {
			t.Fatal("the gate still orders calls 10 s after the last one")
		}
		time.Sleep(10 * time.Millisecond)
	}
	before := atomic.LoadUint32(count)
	burning := make(chan error, 1)
	go func() {
		_, err := burn.Call([]byte("[0.5]"))
		burning <- err
	}()
	deadline = time.Now().Add(5 * time.Second)
	for atomic.LoadUint32(count) == before || !calls.Engaged() {
		if time.Now().After(deadline) {
			t.Fatalf("calls beside a computing call: count %d -> %d, engaged %v",
				before, atomic.LoadUint32(count), calls.Engaged())
		}
		if _, err := noop.Call(nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-burning; err != nil {
		t.Fatal(err)
	}
}
