package pyhost

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func echoOp(calls *atomic.Int64) func(context.Context, any) (any, error) {
	return func(_ context.Context, req any) (any, error) {
		calls.Add(1)
		return fmt.Sprint("op:", req), nil
	}
}

func TestHooksPassAnswerReplaceAndFallBack(t *testing.T) {
	rt, _ := startRuntime(t)
	hp := rt.Hooks("echo")
	var ran atomic.Int64
	op := echoOp(&ran)
	call := func(req any) any {
		t.Helper()
		v, err := hp.Call(context.Background(), req, op)
		if err != nil {
			t.Fatalf("Call(%v): %v", req, err)
		}
		return v
	}
	// No hook: a plain call, nothing counted.
	if got := call("x"); got != "op:x" || hp.Installed() || hp.Stats().Calls != 0 {
		t.Fatalf("no hook: %v %+v", got, hp.Stats())
	}
	points, err := rt.LoadHooks(testdata("hooks_sample.py"))
	if err != nil {
		t.Fatal(err)
	}
	if len(points) != 2 || rt.Hooks("echo") != hp || !hp.Installed() {
		t.Fatalf("LoadHooks: %v", points)
	}
	ran.Store(0)
	for _, c := range []struct {
		req  any
		want any
		ran  int64
	}{
		{"pass", "op:pass", 1},
		{"answer", "answered", 0},
		{"false", false, 0},
		{"replace", "op:replace!", 1},
		{"raise", "op:raise", 1},
		{"bad", "op:bad", 1},
		{map[string]any{"n": 7}, map[string]any{"seen": int64(7)}, 0},
	} {
		before := ran.Load()
		got := call(c.req)
		if fmt.Sprint(got) != fmt.Sprint(c.want) || ran.Load()-before != c.ran {
			t.Errorf("Call(%v) = %v (op ran %d), want %v (op ran %d)", c.req, got, ran.Load()-before, c.want, c.ran)
		}
	}
	st := hp.Stats()
	if st.Calls != 7 || st.Answered != 3 || st.Replaced != 1 || st.Errors != 2 ||
		!strings.Contains(st.LastError, "set") {
		t.Fatalf("stats: %+v", st)
	}
	// Past the deadline: the late answer is ignored.
	hp.SetDeadline(10 * time.Millisecond)
	if got := call("slow"); got != "op:slow" || hp.Stats().Late != 1 {
		t.Fatalf("deadline: %v %+v", got, hp.Stats())
	}
	hp.SetDeadline(0)
	if got := call("slow"); got != "late answer" {
		t.Fatalf("no deadline: %v", got)
	}
	// Dispatch and Complete alone.
	if v, ok := hp.Dispatch("answer"); !ok || v != "answered" {
		t.Fatalf("Dispatch: %v %v", v, ok)
	}
	if _, ok := hp.Dispatch("pass"); ok {
		t.Fatal("Dispatch answered a request it passes")
	}
	if v := hp.Complete("replace", "r"); v != "r!" {
		t.Fatalf("Complete: %v", v)
	}
	hp.Remove()
	if got := call("answer"); got != "op:answer" || hp.Installed() {
		t.Fatalf("after Remove: %v", got)
	}
}

// Hooks installed and removed while 64 goroutines call: every call sees
// either no hook or the whole hook, never an error.
func TestHooksInstalledAndRemovedUnderLoad(t *testing.T) {
	rt, _ := startRuntime(t)
	hp := rt.Hooks("echo")
	var ran atomic.Int64
	op := echoOp(&ran)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var answered, passed atomic.Int64
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				v, err := hp.Call(context.Background(), "answer", op)
				switch {
				case err != nil:
					t.Error(err)
					return
				case v == "answered":
					answered.Add(1)
				case v == "op:answer":
					passed.Add(1)
				default:
					t.Errorf("Call = %v", v)
					return
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		if _, err := rt.LoadHooks(testdata("hooks_sample.py")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
		hp.Remove()
		time.Sleep(2 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if answered.Load() == 0 || passed.Load() == 0 {
		t.Fatalf("answered %d, passed %d: both states should have been seen", answered.Load(), passed.Load())
	}
	if st := hp.Stats(); st.Errors != 0 {
		t.Fatalf("errors while hooks changed: %+v", st)
	}
}

func TestHooksAfterShutdownPassThrough(t *testing.T) {
	rt, err := Start(Options{PythonPath: []string{testdata()}})
	if err != nil {
		t.Fatal(err)
	}
	hp := rt.Hooks("echo")
	if _, err := rt.LoadHooks(testdata("hooks_sample.py")); err != nil {
		t.Fatal(err)
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	var ran atomic.Int64
	v, err := hp.Call(context.Background(), "answer", echoOp(&ran))
	if err != nil || v != "op:answer" || hp.Stats().Errors != 2 { // dispatch and completion
		t.Fatalf("after shutdown: %v %v %+v", v, err, hp.Stats())
	}
	if _, err := rt.LoadHooks("hooks_sample"); err == nil {
		t.Fatal("LoadHooks after shutdown")
	}
}

func TestLoadHooksRefusesABadMarkWithAnError(t *testing.T) {
	rt, _ := startRuntime(t)
	dir := t.TempDir()
	path := dir + "/marked_by_hand.py"
	src := "def hook(req):\n    return None\n\nhook.__pyhost_hook__ = ('dispatch', 7)\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := rt.LoadHooks(path)
	if err == nil || !strings.Contains(err.Error(), "__pyhost_hook__ is ('dispatch', 7)") {
		t.Fatalf("LoadHooks of a bad mark: %v", err)
	}
	if rt.Hooks("7").Installed() {
		t.Fatal("a bad mark installed a hook")
	}
}

func TestHookMarksRefusesWhatCollectDoesNotReturn(t *testing.T) {
	for _, found := range []any{
		nil,
		"dispatch",
		[]any{"dispatch", "op", "f"},
		[]any{[]any{"dispatch", "op"}},
		[]any{[]any{"dispatch", int64(7), "f"}},
		[]any{[]any{"dispach", "op", "f"}},
		[]any{[]any{"completion", "", "f"}},
	} {
		if marks, err := hookMarks(found); err == nil {
			t.Errorf("hookMarks(%#v) = %v, no error", found, marks)
		}
	}
	marks, err := hookMarks([]any{[]any{"completion", "op", "f"}})
	if err != nil || len(marks) != 1 || marks[0] != (hookMark{"completion", "op", "f"}) {
		t.Fatalf("hookMarks of a good mark: %v %v", marks, err)
	}
}
