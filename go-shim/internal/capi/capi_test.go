package capi

import (
	"errors"
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
	rt, err := Start(StartOptions{PythonPath: []string{testdata()}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := Start(StartOptions{})
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
	run := func(r, c uint64) error { return RunCheck(r, c, 0, func([]byte) error { return nil }) }

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
		{"garbage meter", func() error { _, err := ReadMeter(rt, 0xdeadbeef); return err }(), StatusInvalidHandle},
		{"invoke with a garbage meter", func() error {
			_, err := InvokeFunction(rt, fn, []byte{ValueList, 0, 0, 0, 0}, 0, 0xdeadbeef, nil)
			return err
		}(), StatusInvalidHandle},
		{"meter of a garbage runtime", func() error { _, err := NewMeter(0xdeadbeef); return err }(), StatusInvalidHandle},
	}
	// Meter 0 is the account of what no run or meter allocated.
	if outside, err := ReadMeter(rt, 0); err != nil || outside.Calls != 0 {
		t.Errorf("meter 0: %+v, %v", outside, err)
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
	if _, err := NewMeter(rt); status(err) != StatusShutdown {
		t.Errorf("meter after shutdown: %v", err)
	}
}

func TestCallResultsLargerThanScratch(t *testing.T) {
	rt, err := Start(StartOptions{PythonPath: []string{testdata()}})
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

// withKind rewrites a handle's kind byte: what a forged or corrupted
// handle looks like.
func withKind(handle uint64, kind uint64) uint64 { return handle&^(0xff<<56) | kind<<56 }

// TestForgedHandlesReachNoObjectOfAnotherKind: a handle whose kind bits
// were changed, or whose slot bits were invented, is INVALID_HANDLE (never
// a caught panic), and freeing one cannot remove an object of another kind.
func TestForgedHandlesReachNoObjectOfAnotherKind(t *testing.T) {
	rt, err := Start(StartOptions{PythonPath: []string{testdata()}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = Shutdown(rt, 1000) }()
	class, err := LoadCheckClass(rt, testdata("checks", "trivial.py"), "")
	if err != nil {
		t.Fatal(err)
	}
	chk, err := NewCheck(rt, class, "trivial", "trivial:forged", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	fn, err := LoadFunction(rt, "benchmod", "noop")
	if err != nil {
		t.Fatal(err)
	}
	run := func(c uint64) error { return RunCheck(rt, c, 0, func([]byte) error { return nil }) }
	const kindClass, kindCheck, kindFunction = 2, 3, 4
	forged := []uint64{
		withKind(fn, kindCheck), withKind(class, kindCheck), withKind(chk, kindFunction),
		withKind(chk, kindClass), withKind(chk, 0x7f), chk ^ 0xffff, chk | 0xff<<32, 1 << 56 * kindCheck,
	}
	for _, h := range forged {
		if h == chk {
			continue
		}
		if got := status(run(h)); got != StatusInvalidHandle {
			t.Errorf("run of forged %#x: status %d, want %d", h, got, StatusInvalidHandle)
		}
		if got := status(FreeFunction(rt, h)); h != fn && got != StatusInvalidHandle {
			t.Errorf("function free of forged %#x: status %d", h, got)
		}
		if got := status(FreeCheckClass(rt, h)); h != class && got != StatusInvalidHandle {
			t.Errorf("class free of forged %#x: status %d", h, got)
		}
	}
	// The check survived every wrong-kind free, and freeing it for real
	// releases its id for a new check.
	if err := run(chk); err != nil {
		t.Fatalf("the real check: %v", err)
	}
	if err := FreeCheck(rt, chk); err != nil {
		t.Fatal(err)
	}
	if _, err := NewCheck(rt, class, "trivial", "trivial:forged", nil, nil); err != nil {
		t.Fatalf("the id of a freed check is still taken: %v", err)
	}
}

// TestArgumentsInTheScratchBufferAreNotOverwritten: a call whose arguments
// sit in the spare capacity it lends for the result still gets them intact.
func TestArgumentsInTheScratchBufferAreNotOverwritten(t *testing.T) {
	rt, err := Start(StartOptions{PythonPath: []string{testdata()}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = Shutdown(rt, 1000) }()
	fn, err := LoadFunction(rt, "benchmod", "echo")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 256)
	buf = append(buf, `["abcdefghijklmnop", 12345]`...)
	out, err := CallFunction(rt, fn, buf, buf[:0])
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `["abcdefghijklmnop",12345]` {
		t.Fatalf("result %q", out)
	}
}
