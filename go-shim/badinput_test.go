package pyhost

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestLoadErrors(t *testing.T) {
	rt, _ := startRuntime(t)
	cases := []struct {
		source, class string
		wantType      string
		wantMsg       string
	}{
		{"no_such_module_anywhere", "", "ModuleNotFoundError", "no_such_module_anywhere"},
		{testdata("checks", "missing.py"), "", "FileNotFoundError", "file not found"},
		{testdata("checks", "syntax_error.py"), "", "SyntaxError", "expected ':'"},
		{testdata("checks", "no_class.py"), "", "LookupError", "defines no AgentCheck subclass"},
		{testdata("checks", "two_classes.py"), "", "LookupError", "several check classes (FirstCheck, SecondCheck)"},
		{testdata("checks", "simple.py"), "NotThere", "LookupError", "has no class 'NotThere'"},
	}
	for _, c := range cases {
		_, err := rt.LoadCheckClass(c.source, c.class)
		var pe *PythonError
		if !errors.As(err, &pe) {
			t.Errorf("%s: err = %v, want a *PythonError", c.source, err)
			continue
		}
		if pe.Type != c.wantType || !strings.Contains(pe.Message, c.wantMsg) {
			t.Errorf("%s: got %s: %s; want %s containing %q", c.source, pe.Type, pe.Message, c.wantType, c.wantMsg)
		}
		if pe.Traceback == "" {
			t.Errorf("%s: no traceback", c.source)
		}
	}
	if _, err := rt.LoadCheckClass("", ""); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("empty source: err = %v, want ErrInvalidArgument", err)
	}
}

func TestClassSelection(t *testing.T) {
	rt, _ := startRuntime(t)
	for _, c := range []struct{ file, class, want string }{
		{"subclassed.py", "", "concrete"},
		{"two_classes.py", "SecondCheck", "second"},
	} {
		class, err := rt.LoadCheckClass(testdata("checks", c.file), c.class)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		chk, err := class.NewCheck(c.file, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := chk.Run(context.Background())
		if err != nil || len(res.Metrics) != 1 || res.Metrics[0].Name != c.want {
			t.Errorf("%s: picked the wrong class: %v %+v", c.file, err, res)
		}
		_ = chk.Close()
	}
}

func TestBadConfigJSON(t *testing.T) {
	rt, _ := startRuntime(t)
	class, err := rt.LoadCheckClass(testdata("checks", "simple.py"), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][2]string{{`{"a":`, `{}`}, {`{}`, `[1,2]`}, {`"text"`, `{}`}} {
		if _, err := class.NewCheckJSON("simple", []byte(bad[0]), []byte(bad[1])); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("config %q/%q: err = %v, want ErrInvalidArgument", bad[0], bad[1], err)
		}
	}
	// Bytes that are valid JSON objects for Go but not UTF-8 for the library.
	if _, err := class.NewCheckJSON("simple", []byte("{\"k\":\"\xff\"}"), nil); err == nil {
		t.Error("invalid UTF-8 in config accepted")
	}
	// Duplicate ids conflict.
	if _, err := class.NewCheck("dup", nil, map[string]any{"n": 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := class.NewCheck("dup", nil, map[string]any{"n": 1}); !errors.Is(err, ErrConflict) {
		t.Errorf("duplicate check id: err = %v, want ErrConflict", err)
	}
}

func TestWrongTypesFromPythonBecomeWarnings(t *testing.T) {
	rt, _ := startRuntime(t)
	chk := loadCheck(t, rt, "bad_types.py", nil)
	res, err := chk.Run(context.Background())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	names := map[string]bool{}
	for _, m := range res.Metrics {
		names[m.Name] = true
	}
	if names["bad.string_value"] || names["bad.nan"] || !names["good.after"] {
		t.Errorf("metrics = %+v", res.Metrics)
	}
	for _, m := range res.Metrics {
		if m.Name == "flag.flush_none" && m.FlushFirstValue || m.Name == "flag.flush_int" && !m.FlushFirstValue {
			t.Errorf("flush_first_value taken wrong: %+v", m)
		}
	}
	if !names["flag.raw"] || !names["flag.flush_none"] || !names["flag.flush_int"] {
		t.Errorf("a flag that is not a bool lost its metric: %+v", res.Metrics)
	}
	joined := strings.Join(res.Warnings, "\n")
	for _, want := range []string{"bad.string_value", "bad.nan", "non-string tags"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no warning mentioning %q in %q", want, res.Warnings)
		}
	}
}

// Direct calls into aggregator.submit_metric: a pyhost SDK check passed as
// `check` keeps the SDK's rules (bad data raises, the SDK turns it into a
// warning); any other object gets the Datadog Agent's (wrong argument types
// raise as rtloader's PyArg_ParseTuple does; non-str tags, unknown types and
// unknown check ids are dropped; a NaN becomes a warning).
func TestWrongTypesIntoBuiltinsRaise(t *testing.T) {
	rt, _ := startRuntime(t)
	chk := loadCheck(t, rt, "direct_builtins.py", nil)
	res, err := chk.Run(context.Background())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	raised := map[string]string{}
	survivor := false
	byName := map[string]Metric{}
	for _, m := range res.Metrics {
		switch m.Name {
		case "outcome":
			rules := strings.TrimPrefix(m.Tags[0], "rules:")
			raised[rules+"/"+strings.TrimPrefix(m.Tags[1], "case:")] = strings.TrimPrefix(m.Tags[2], "exc:")
		case "survivor":
			survivor = true
		case "m", "dd.m", "dd.nan", "dd.bad_type":
			t.Errorf("a rejected submission reached the batch: %+v", m)
		default:
			byName[m.Name] = m
		}
	}
	want := map[string]string{
		"sdk/string value": "TypeError", "sdk/nan": "ValueError", "sdk/int tag": "TypeError",
		"sdk/tags not a list": "TypeError", "sdk/name not str": "TypeError", "sdk/bad type": "ValueError",
		"sdk/hostname not str": "TypeError", "sdk/missing args": "TypeError",
		"datadog/string value": "TypeError", "datadog/nan": "none", "datadog/int tag": "none",
		"datadog/str tags": "none", "datadog/tags None": "TypeError", "datadog/name not str": "TypeError",
		"datadog/bad type": "none", "datadog/hostname None": "TypeError", "datadog/hostname not str": "TypeError",
		"datadog/missing args": "TypeError", "datadog/unknown check id": "none",
	}
	for k, v := range want {
		if raised[k] != v {
			t.Errorf("case %q raised %q, want %q", k, raised[k], v)
		}
	}
	if m := byName["dd.int_tag"]; strings.Join(m.Tags, ",") != "a:b" {
		t.Errorf("non-str tags were not dropped: %+v", m)
	}
	if m := byName["dd.str_tags"]; strings.Join(m.Tags, ",") != "a,:,b" {
		t.Errorf("a str as tags is a sequence of one-character tags in the agent: %+v", m)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "'dd.nan' has non-finite value nan") {
		t.Errorf("warnings = %q, want one for dd.nan", res.Warnings)
	}
	if !survivor {
		t.Error("the batch lost submissions after the rejected ones")
	}
}

func TestCancelStopsARunawayCheck(t *testing.T) {
	rt, _ := startRuntime(t)
	chk := loadCheck(t, rt, "slow.py", map[string]any{"seconds": 60})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := chk.Run(ctx)
	if !errors.Is(err, ErrCancelled) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrCancelled and DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("cancellation took %v", took)
	}
	if res == nil || !res.Cancelled || len(res.Metrics) != 1 || res.Metrics[0].Name != "slow.started" {
		t.Errorf("result = %+v, want the metric submitted before cancellation", res)
	}
	// The check is usable again and a late cancel does not leak into the next run.
	_ = chk.Cancel()
	fast := loadCheck(t, rt, "trivial.py", nil)
	if _, err := fast.Run(context.Background()); err != nil {
		t.Errorf("run after a cancel: %v", err)
	}
}

func TestConcurrentRunOfOneCheckIsBusy(t *testing.T) {
	rt, logs := startRuntime(t)
	chk := loadCheck(t, rt, "slow.py", map[string]any{"seconds": 30})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := chk.Run(ctx); done <- err }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, ok := logs.find("slow check started"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first run never started")
		}
	}
	if _, err := chk.Run(context.Background()); !errors.Is(err, ErrBusy) {
		t.Errorf("second run: err = %v, want ErrBusy", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, ErrCancelled) {
		t.Errorf("first run: %v", err)
	}
}

func TestCallsAfterShutdown(t *testing.T) {
	rt, err := Start(Options{PythonPath: []string{testdata()}})
	if err != nil {
		t.Fatal(err)
	}
	class, err := rt.LoadCheckClass(testdata("checks", "trivial.py"), "")
	if err != nil {
		t.Fatal(err)
	}
	chk, err := class.NewCheck("trivial", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	fn, err := rt.LoadFunction("benchmod", "noop")
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rt.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := chk.Run(context.Background()); !errors.Is(err, ErrShutdown) {
		t.Errorf("Run after shutdown: %v", err)
	}
	if _, err := fn.Call(nil); !errors.Is(err, ErrShutdown) {
		t.Errorf("Call after shutdown: %v", err)
	}
	if _, err := rt.LoadCheckClass("benchmod", ""); !errors.Is(err, ErrShutdown) {
		t.Errorf("Load after shutdown: %v", err)
	}
	if err := chk.Close(); err != nil {
		t.Errorf("Close of a check after shutdown: %v", err)
	}
	// A new runtime over the same interpreter works.
	rt2, _ := startRuntime(t)
	if _, err := rt2.LoadCheckClass(testdata("checks", "trivial.py"), ""); err != nil {
		t.Errorf("new runtime: %v", err)
	}
}

func TestShutdownWithRunsInFlight(t *testing.T) {
	rt, err := Start(Options{PythonPath: []string{testdata()}, ShutdownTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	class, err := rt.LoadCheckClass(testdata("checks", "slow.py"), "")
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		chk, err := class.NewCheck("slow", nil, map[string]any{"seconds": 60, "n": i})
		if err != nil {
			t.Fatal(err)
		}
		go func() { _, err := chk.Run(context.Background()); errs <- err }()
	}
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if err := rt.Close(); err != nil {
		t.Fatalf("Close with runs in flight: %v", err)
	}
	for i := 0; i < n; i++ {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrCancelled) && !errors.Is(err, ErrShutdown) {
				t.Errorf("in-flight run ended with %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("an in-flight run never returned")
		}
	}
	t.Logf("shutdown with %d runs in flight took %v", n, time.Since(start))
}

func TestPluginCannotTakeSignalsFromGo(t *testing.T) {
	rt, _ := startRuntime(t)
	chk := loadCheck(t, rt, "signals.py", nil)
	_, err := chk.Run(context.Background())
	var pe *PythonError
	if !errors.As(err, &pe) || pe.Type != "ValueError" || !strings.Contains(pe.Message, "main thread") {
		t.Fatalf("signal.signal in a check: err = %v, want ValueError about the main thread", err)
	}
	got := make(chan os.Signal, 1)
	signal.Notify(got, syscall.SIGUSR1)
	defer signal.Stop(got)
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("Go no longer receives SIGUSR1")
	}
}

func TestPythonUnavailable(t *testing.T) {
	if os.Getenv("PYHOST_ENGINE") != "" {
		t.Skip("engine pinned by the environment")
	}
	// Runs in a child process: the engine is loaded once per process.
	if os.Getenv("PYHOST_TEST_UNAVAILABLE") == "1" {
		_, err := Start(Options{Engine: "/nonexistent/libpyhost_engine.so"})
		if !errors.Is(err, ErrPythonUnavailable) || !strings.Contains(err.Error(), "/nonexistent/libpyhost_engine.so") {
			t.Fatalf("err = %v", err)
		}
		return
	}
	out, err := runSelf(t, "TestPythonUnavailable", "PYHOST_TEST_UNAVAILABLE=1")
	if err != nil {
		t.Fatalf("child failed: %v\n%s", err, out)
	}
}
