package pyhost

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// testLogs collects Python log records forwarded to Go.
type testLogs struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *testLogs) Enabled(_ context.Context, _ slog.Level) bool { return true }
func (l *testLogs) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r.Clone())
	return nil
}
func (l *testLogs) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *testLogs) WithGroup(string) slog.Handler      { return l }

func (l *testLogs) find(msg string) (slog.Record, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.records {
		if r.Message == msg {
			return r, true
		}
	}
	return slog.Record{}, false
}

func testdata(parts ...string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(append([]string{filepath.Dir(file), "testdata"}, parts...)...)
}

// startRuntime opens a runtime with testdata on sys.path and closes it at
// the end of the test.
func startRuntime(t testing.TB) (*Runtime, *testLogs) {
	t.Helper()
	logs := &testLogs{}
	rt, err := Start(Options{PythonPath: []string{testdata()}, Logger: slog.New(logs), LogLevel: slog.LevelDebug})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := rt.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return rt, logs
}

func loadCheck(t testing.TB, rt *Runtime, file string, instance map[string]any) *Check {
	t.Helper()
	class, err := rt.LoadCheckClass(testdata("checks", file), "")
	if err != nil {
		t.Fatalf("LoadCheckClass(%s): %v", file, err)
	}
	chk, err := class.NewCheck(file, map[string]any{"greeting": "hello"}, instance)
	if err != nil {
		t.Fatalf("NewCheck(%s): %v", file, err)
	}
	t.Cleanup(func() { _ = chk.Close(); _ = class.Close() })
	return chk
}

// runSelf re-runs one test of this binary in a child process with extra
// environment, for behaviour that is once per process.
func runSelf(t *testing.T, test string, env ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	return cmd.CombinedOutput()
}
