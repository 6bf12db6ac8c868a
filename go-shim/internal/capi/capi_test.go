package capi

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

func testdata(parts ...string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(append([]string{filepath.Dir(file), "..", "..", "testdata"}, parts...)...)
}

func status(err error) uint32 {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return StatusOK
}

// TestHandlesAreValidatedOnEveryCall feeds the C API zero, stale,
// double-freed, wrong-kind and foreign handles; each must be an error
// status, never a crash.
func TestHandlesAreValidatedOnEveryCall(t *testing.T) {
	rt, err := Start(StartOptions{Python: os.Getenv("PYHOST_PYTHON"), PythonPath: []string{testdata()}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := Start(StartOptions{Python: os.Getenv("PYHOST_PYTHON")})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = Shutdown(other, 1000) }()
	class, err := LoadCheckClass(rt, testdata("checks", "trivial.py"), "")
	if err != nil {
		t.Fatal(err)
	}
	chk, err := NewCheck(rt, class, "trivial", "trivial:1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	fn, err := LoadFunction(rt, "benchmod", "noop")
	if err != nil {
		t.Fatal(err)
	}
	run := func(r, c uint64) error { return RunCheck(r, c, func([]byte) error { return nil }) }

	cases := []struct {
		name string
		err  error
		want uint32
	}{
		{"zero runtime", run(0, chk), StatusInvalidHandle},
		{"zero check", run(rt, 0), StatusInvalidHandle},
		{"garbage runtime", run(0xdeadbeef, chk), StatusInvalidHandle},
		{"class used as check", run(rt, class), StatusInvalidHandle},
		{"check used as function", func() error { _, err := CallFunction(rt, chk, nil, nil); return err }(), StatusInvalidHandle},
		{"check of another runtime", run(other, chk), StatusInvalidHandle},
		{"check id as runtime", run(chk, chk), StatusInvalidHandle},
		{"bad args JSON", func() error { _, err := CallFunction(rt, fn, []byte("[1,"), nil); return err }(), StatusInvalidArgument},
		{"args not an array", func() error { _, err := CallFunction(rt, fn, []byte(`{"a":1}`), nil); return err }(), StatusInvalidArgument},
	}
	for _, c := range cases {
		if got := status(c.err); got != c.want {
			t.Errorf("%s: status %d (%v), want %d", c.name, got, c.err, c.want)
		}
	}
	if err := FreeCheck(rt, chk); err != nil {
		t.Fatal(err)
	}
	if got := status(FreeCheck(rt, chk)); got != StatusInvalidHandle {
		t.Errorf("double free: status %d", got)
	}
	if got := status(run(rt, chk)); got != StatusInvalidHandle {
		t.Errorf("stale check: status %d", got)
	}
	// A new object may reuse the slot; the old handle stays invalid.
	chk2, err := NewCheck(rt, class, "trivial", "trivial:2", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if chk2 == chk {
		t.Fatal("a freed handle was handed out again")
	}
	if got := status(run(rt, chk)); got != StatusInvalidHandle {
		t.Errorf("stale check after slot reuse: status %d", got)
	}
	if err := run(rt, chk2); err != nil {
		t.Errorf("fresh check: %v", err)
	}
	if err := Shutdown(rt, 1000); err != nil {
		t.Fatal(err)
	}
	if err := Shutdown(rt, 1000); err != nil {
		t.Errorf("second shutdown: %v", err)
	}
	if got := status(run(rt, chk2)); got != StatusShutdown {
		t.Errorf("after shutdown: status %d", got)
	}
	if _, err := CallFunction(rt, fn, nil, nil); status(err) != StatusShutdown {
		t.Errorf("call after shutdown: %v", err)
	}
}

func TestCallResultsLargerThanScratch(t *testing.T) {
	rt, err := Start(StartOptions{Python: os.Getenv("PYHOST_PYTHON"), PythonPath: []string{testdata()}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = Shutdown(rt, 1000) }()
	fn, err := LoadFunction(rt, "benchmod", "big")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 10, 62, 100000} {
		out, err := CallFunction(rt, fn, []byte("["+strconv.Itoa(n)+"]"), make([]byte, 0, 64))
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != n+2 {
			t.Errorf("big(%d): %d bytes", n, len(out))
		}
	}
	bad, err := LoadFunction(rt, "benchmod", "unserialisable")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CallFunction(rt, bad, nil, nil); status(err) != StatusPythonException {
		t.Errorf("unserialisable result: %v", err)
	}
	raising, err := LoadFunction(rt, "benchmod", "fail")
	if err != nil {
		t.Fatal(err)
	}
	_, err = CallFunction(rt, raising, []byte(`["boom"]`), nil)
	var e *Error
	if !errors.As(err, &e) || e.Type != "RuntimeError" || e.Message != "boom" || e.Traceback == "" {
		t.Errorf("raising function: %+v", err)
	}
}
