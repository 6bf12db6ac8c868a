package pyhost

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunSimpleCheck(t *testing.T) {
	rt, logs := startRuntime(t)
	chk := loadCheck(t, rt, "simple.py", map[string]any{"tags": []any{"role:db"}, "value": 4.25, "warn": "disk nearly full"})
	res, err := chk.Run(context.Background())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(res.Metrics) != 3 {
		t.Fatalf("metrics = %+v, want 3", res.Metrics)
	}
	g := res.Metrics[0]
	if g.Name != "simple.gauge" || g.Type != Gauge || g.Value != 4.25 || strings.Join(g.Tags, ",") != "env:test,role:db" {
		t.Errorf("gauge = %+v", g)
	}
	if c := res.Metrics[1]; c.Type != Count || c.Hostname != "h1" || c.Value != 3 {
		t.Errorf("count = %+v", c)
	}
	if m := res.Metrics[2]; m.Type != MonotonicCount || m.Value != 10 {
		t.Errorf("monotonic = %+v", m)
	}
	if len(res.ServiceChecks) != 1 || res.ServiceChecks[0].Status != StatusOK || res.ServiceChecks[0].Message != "fine" {
		t.Errorf("service checks = %+v", res.ServiceChecks)
	}
	if len(res.Events) != 1 || res.Events[0].Title != "hello" || res.Events[0].Text != "world" || res.Events[0].AlertType != "info" {
		t.Errorf("events = %+v", res.Events)
	}
	if len(res.Warnings) != 1 || res.Warnings[0] != "careful: disk nearly full" {
		t.Errorf("warnings = %q", res.Warnings)
	}
	rec, ok := logs.find("simple check ran with hello")
	if !ok {
		t.Fatalf("log record not forwarded; got %d records", len(logs.records))
	}
	var checkID, checkName string
	rec.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "check_id":
			checkID = a.Value.String()
		case "check":
			checkName = a.Value.String()
		}
		return true
	})
	if checkID != chk.ID() || checkName != chk.Name() || rec.Level != slog.LevelInfo {
		t.Errorf("log record: check_id %q (want %q), check %q (want %q), level %v", checkID, chk.ID(), checkName, chk.Name(), rec.Level)
	}
	// A second run starts from an empty batch.
	res2, err := chk.Run(context.Background())
	if err != nil || len(res2.Metrics) != 3 || len(res2.Warnings) != 1 {
		t.Errorf("second run: %v %+v", err, res2)
	}
}

func TestEmbeddedInterpreterIsTheIntendedOne(t *testing.T) {
	rt, _ := startRuntime(t)
	info, err := rt.PythonInfo()
	if err != nil {
		t.Fatal(err)
	}
	// With no Python named (no Options.Python, no $PYHOST_PYTHON), the one
	// recorded at build time: make's venv.
	wantExe := os.Getenv("PYHOST_EXPECT_EXECUTABLE")
	if wantExe == "" {
		t.Fatal("PYHOST_EXPECT_EXECUTABLE is not set; run the tests through make")
	}
	if info.Executable != wantExe {
		t.Errorf("sys.executable = %q, want %q", info.Executable, wantExe)
	}
	if want := os.Getenv("PYHOST_EXPECT_VERSION"); want != "" && !strings.HasPrefix(info.Version, want) {
		t.Errorf("sys.version = %q, want prefix %q", info.Version, want)
	}
	if want := os.Getenv("PYHOST_EXPECT_LIBDIR"); want != "" && filepath.Dir(info.LibPython) != want {
		t.Errorf("libpython loaded from %q, want a file in %q", info.LibPython, want)
	}
	venv := filepath.Dir(filepath.Dir(wantExe))
	if info.Prefix != venv {
		t.Errorf("sys.prefix = %q, want the venv %q", info.Prefix, venv)
	}
	t.Logf("embedded: %s at %s (libpython %s, engine %s)", strings.Fields(info.Version)[0], info.Executable, info.LibPython, info.Engine)
}

func TestCheckRaisingIsAPythonError(t *testing.T) {
	rt, _ := startRuntime(t)
	chk := loadCheck(t, rt, "raising.py", nil)
	res, err := chk.Run(context.Background())
	var pe *PythonError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want *PythonError", err)
	}
	if pe.Type != "raising.FetchError" || pe.Message != "endpoint unreachable" || !strings.Contains(pe.Traceback, `raise FetchError("endpoint unreachable")`) {
		t.Errorf("python error = %+v", pe)
	}
	if res == nil || len(res.Metrics) != 1 || res.Metrics[0].Name != "raising.before" {
		t.Errorf("metrics submitted before the exception were lost: %+v", res)
	}
}

func TestCExtensionModulesImport(t *testing.T) {
	rt, _ := startRuntime(t)
	chk := loadCheck(t, rt, "extensions.py", nil)
	res, err := chk.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) > 0 {
		t.Errorf("C extensions failed to import: %q", res.Warnings)
	}
	imported := 0
	for _, m := range res.Metrics {
		switch m.Name {
		case "extension.imported":
			imported++
		case "extension.json_accelerated":
			if m.Value != 1 {
				t.Error("json fell back to pure Python: the _json accelerator did not load")
			}
		}
	}
	if imported != 8 {
		t.Errorf("%d of 8 extension modules imported", imported)
	}
}

func TestFunctionCalls(t *testing.T) {
	rt, _ := startRuntime(t)
	add, err := rt.LoadFunction("benchmod", "add")
	if err != nil {
		t.Fatal(err)
	}
	out, err := add.Call([]byte(`[2, 40]`))
	if err != nil || string(out) != "42" {
		t.Fatalf("add = %s, %v", out, err)
	}
	strs, err := add.Call([]byte(`["py", "host"]`))
	if err != nil || string(strs) != `"pyhost"` {
		t.Errorf("add strings = %s, %v", strs, err)
	}
	_, err = add.Call([]byte(`[1]`))
	var pe *PythonError
	if !errors.As(err, &pe) || pe.Type != "TypeError" {
		t.Errorf("missing argument: %v", err)
	}
	if _, err := rt.LoadFunction("benchmod", "nope"); !errors.As(err, &pe) || pe.Type != "LookupError" {
		t.Errorf("missing function: %v", err)
	}
	if err := add.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := add.Call(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("call after close: %v", err)
	}
	// AppendCall writes into the caller's buffer without allocating.
	noop, err := rt.LoadFunction("benchmod", "noop")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(100, func() {
		out, err := noop.AppendCall(buf[:0], nil)
		if err != nil || string(out) != "null" {
			t.Fatalf("noop = %s, %v", out, err)
		}
	})
	if allocs > 0 {
		t.Errorf("AppendCall allocated %.1f times per call", allocs)
	}
}
