package pyhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// py loads a function of testdata/bridge.py.
func py(t testing.TB, rt *Runtime, name string) *Function {
	t.Helper()
	fn, err := rt.LoadFunction("bridge", name)
	if err != nil {
		t.Fatalf("load bridge.%s: %v", name, err)
	}
	return fn
}

// callGo calls module.function(args...) from Python and returns what it
// returned, or fails the test with what it raised.
func callGo(t testing.TB, rt *Runtime, module, function string, args ...any) any {
	t.Helper()
	kind, value := callGoRaw(t, rt, module, function, args...)
	if kind != "ok" {
		t.Fatalf("%s.%s%v raised %s: %v", module, function, args, kind, value)
	}
	return value
}

// callGoRaw returns ("ok", result) or (exception type, message).
func callGoRaw(t testing.TB, rt *Runtime, module, function string, args ...any) (string, any) {
	t.Helper()
	out, err := py(t, rt, "call").Invoke(append([]any{module, function}, args...)...)
	if err != nil {
		t.Fatalf("call %s.%s: %v", module, function, err)
	}
	pair := out.([]any)
	return pair[0].(string), pair[1]
}

func mustRaise(t *testing.T, rt *Runtime, want, contains string, module, function string, args ...any) {
	t.Helper()
	kind, msg := callGoRaw(t, rt, module, function, args...)
	if kind != want || !strings.Contains(fmt.Sprint(msg), contains) {
		t.Fatalf("%s.%s%v: got %s %q, want %s containing %q", module, function, args, kind, msg, want, contains)
	}
}

func TestDefineModuleMapsEveryType(t *testing.T) {
	rt, _ := startRuntime(t)
	huge := new(big.Int).Lsh(big.NewInt(1), 100)
	err := rt.DefineModule("gotypes", map[string]any{
		"none":   func() any { return nil },
		"truth":  func(b bool) bool { return !b },
		"i":      func(v int) int { return v + 1 },
		"i8":     func(v int8) int8 { return v },
		"i16":    func(v int16) int16 { return v },
		"i32":    func(v int32) int32 { return v },
		"i64":    func(v int64) int64 { return v },
		"u":      func(v uint) uint { return v },
		"u8":     func(v uint8) uint8 { return v },
		"u16":    func(v uint16) uint16 { return v },
		"u32":    func(v uint32) uint32 { return v },
		"u64":    func(v uint64) uint64 { return v },
		"f32":    func(v float32) float32 { return v * 2 },
		"f64":    func(v float64) float64 { return v / 2 },
		"str":    func(s string) string { return strings.ToUpper(s) },
		"bytes":  func(b []byte) []byte { return append(b, '!') },
		"ints":   func(v []int) []int { return append(v, len(v)) },
		"nested": func(v map[string][]float64) map[string]int { return map[string]int{"n": len(v["xs"])} },
		"anyv":   func(v any) any { return v },
		"big":    func(v *big.Int) *big.Int { return new(big.Int).Add(v, huge) },
		"sum": func(xs ...int) int {
			s := 0
			for _, x := range xs {
				s += x
			}
			return s
		},
		"prefix": func(p string, xs ...string) []string {
			for i := range xs {
				xs[i] = p + xs[i]
			}
			return xs
		},
		"nilmap": func() map[string]int { return nil },
		"nilptr": func() *int { return nil },
		"ptr": func(p *int) int {
			if p == nil {
				return -1
			}
			return *p
		},
		"strmap":  func(m map[string]string) []string { return []string{m["a"], m["b"]} },
		"array":   func(a [3]int) int { return a[0] + a[1] + a[2] },
		"noop":    func() {},
		"errnil":  func() error { return nil },
		"twoRets": func(x int) (int, error) { return x * 2, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		fn   string
		args []any
		want any
	}{
		{"none", nil, nil},
		{"truth", []any{true}, false},
		{"i", []any{41}, int64(42)},
		{"i8", []any{-128}, int64(-128)},
		{"i16", []any{32767}, int64(32767)},
		{"i32", []any{-1 << 31}, int64(-1 << 31)},
		{"i64", []any{int64(math.MinInt64)}, int64(math.MinInt64)},
		{"u", []any{uint64(math.MaxUint64)}, uint64(math.MaxUint64)},
		{"u8", []any{255}, int64(255)},
		{"u16", []any{65535}, int64(65535)},
		{"u32", []any{uint32(math.MaxUint32)}, int64(math.MaxUint32)},
		{"u64", []any{uint64(1 << 63)}, uint64(1 << 63)},
		{"f32", []any{1.5}, 3.0},
		{"f64", []any{3}, 1.5}, // a Python int is a float's argument, as in Python
		{"str", []any{"héllo"}, "HÉLLO"},
		{"bytes", []any{[]byte{0, 1}}, []byte{0, 1, '!'}},
		{"ints", []any{[]any{1, 2}}, []any{int64(1), int64(2), int64(2)}},
		{"nested", []any{map[string]any{"xs": []any{1.0, 2, 3.5}}}, map[string]any{"n": int64(3)}},
		{"anyv", []any{map[string]any{"a": []any{nil, true, "x", 1.25, []byte("b")}}},
			map[string]any{"a": []any{nil, true, "x", 1.25, []byte("b")}}},
		{"big", []any{huge}, new(big.Int).Lsh(huge, 1)},
		{"sum", nil, int64(0)},
		{"sum", []any{1, 2, 3}, int64(6)},
		{"prefix", []any{"p-", "a", "b"}, []any{"p-a", "p-b"}},
		{"nilmap", nil, map[string]any{}},
		{"nilptr", nil, nil},
		{"ptr", []any{nil}, int64(-1)},
		{"ptr", []any{7}, int64(7)},
		{"strmap", []any{map[string]any{"a": "1", "b": "2"}}, []any{"1", "2"}},
		{"array", []any{[]any{1, 2, 3}}, int64(6)},
		{"noop", nil, nil},
		{"errnil", nil, nil},
		{"twoRets", []any{4}, int64(8)},
	}
	for _, c := range cases {
		got := callGo(t, rt, "gotypes", c.fn, c.args...)
		if !reflect.DeepEqual(got, c.want) {
			if gb, ok := got.(*big.Int); ok && gb.Cmp(c.want.(*big.Int)) == 0 {
				continue
			}
			t.Errorf("gotypes.%s%v = %#v, want %#v", c.fn, c.args, got, c.want)
		}
	}
}

func TestDefineModuleRaisesWhatGoReports(t *testing.T) {
	rt, logs := startRuntime(t)
	var panics atomic.Int32
	err := rt.DefineModule("goerrs", map[string]any{
		"fails":    func() error { return errors.New("disk on fire") },
		"failsV":   func(x int) (int, error) { return 0, fmt.Errorf("bad %d", x) },
		"panics":   func() { panics.Add(1); panic("kaboom") },
		"panicsE":  func(x int) int { panic(fmt.Errorf("error value %d", x)) },
		"add":      func(a, b int) int { return a + b },
		"small":    func(v int8) int8 { return v },
		"unsigned": func(v uint) uint { return v },
		"float":    func(v float32) float32 { return v },
		"badUTF8":  func() string { return "\xff\xfe" },
		"nan":      func() float64 { return math.NaN() },
		"inf":      func() any { return []any{math.Inf(1)} },
		"chanAny":  func() any { return make(chan int) },
		"strs":     func(v []string) int { return len(v) },
		"keys":     func(v map[string]int) int { return len(v) },
		"atLeast1": func(a int, rest ...int) int { return a },
	})
	if err != nil {
		t.Fatal(err)
	}
	mustRaise(t, rt, "pyhost.GoError", "disk on fire", "goerrs", "fails")
	mustRaise(t, rt, "pyhost.GoError", "bad 3", "goerrs", "failsV", 3)
	mustRaise(t, rt, "pyhost.GoPanic", "kaboom", "goerrs", "panics")
	mustRaise(t, rt, "pyhost.GoPanic", "error value 5", "goerrs", "panicsE", 5)
	// The process carries on: the next calls work.
	if got := callGo(t, rt, "goerrs", "add", 2, 3); got != int64(5) {
		t.Fatalf("add after a panic = %v", got)
	}
	mustRaise(t, rt, "pyhost.GoPanic", "kaboom", "goerrs", "panics")
	if panics.Load() != 2 {
		t.Fatalf("the panicking function ran %d times, want 2", panics.Load())
	}
	if _, ok := logs.find("a Go function called from Python panicked"); !ok {
		t.Error("a panic was not logged")
	}

	mustRaise(t, rt, "builtins.TypeError", "goerrs.add() takes 2 arguments", "goerrs", "add", 1)
	mustRaise(t, rt, "builtins.TypeError", "got 3", "goerrs", "add", 1, 2, 3)
	mustRaise(t, rt, "builtins.TypeError", "goerrs.add() argument 2 (Go int): must be int, not str", "goerrs", "add", 1, "2")
	mustRaise(t, rt, "builtins.TypeError", "must be int, not float", "goerrs", "add", 1.5, 2)
	mustRaise(t, rt, "builtins.TypeError", "must be int, not bool", "goerrs", "add", true, 2)
	mustRaise(t, rt, "builtins.TypeError", "must be int, not None", "goerrs", "add", nil, 2)
	mustRaise(t, rt, "builtins.TypeError", "argument 1[1] (Go []string): must be str, not int", "goerrs", "strs", []any{"a", 1})
	mustRaise(t, rt, "builtins.TypeError", `argument 1["b"] (Go map[string]int): must be int, not str`, "goerrs", "keys", map[string]any{"a": 1, "b": "x"})
	mustRaise(t, rt, "builtins.TypeError", "takes at least 1 argument", "goerrs", "atLeast1")
	mustRaise(t, rt, "builtins.OverflowError", "300 is out of range for Go int8", "goerrs", "small", 300)
	mustRaise(t, rt, "builtins.OverflowError", "-1 is out of range for Go uint", "goerrs", "unsigned", -1)
	mustRaise(t, rt, "builtins.OverflowError", "out of range for Go float32", "goerrs", "float", 1e300)
	mustRaise(t, rt, "builtins.OverflowError", "out of range for Go int", "goerrs", "add", new(big.Int).Lsh(big.NewInt(1), 70), 1)
	mustRaise(t, rt, "builtins.ValueError", "not valid UTF-8", "goerrs", "badUTF8")
	mustRaise(t, rt, "builtins.ValueError", "NaN cannot cross", "goerrs", "nan")
	mustRaise(t, rt, "builtins.ValueError", "at [0]: +Inf cannot cross", "goerrs", "inf")
	mustRaise(t, rt, "builtins.ValueError", "Go type chan int cannot cross", "goerrs", "chanAny")

	kw, err := py(t, rt, "call_kw").Invoke("goerrs", "add")
	if err != nil || !strings.Contains(kw.(string), "keyword arguments") {
		t.Fatalf("a keyword argument: %v %v", kw, err)
	}
	// Python values that cannot cross are refused before Go runs.
	msg, err := py(t, rt, "call_with_set").Invoke("goerrs", "strs")
	if err != nil || !strings.Contains(msg.(string), "TypeError: goerrs.strs() argument 1: a set cannot cross") {
		t.Fatalf("a set argument: %v %v", msg, err)
	}
}

// A log handler that panics while a Go function's panic is reported does
// not unwind into Python: the call still raises GoPanic, and the runtime
// carries on.
func TestAPanicInThePanicReportStaysInGo(t *testing.T) {
	handler := &callbackHandler{on: "a Go function called from Python panicked", do: func() { panic("the handler broke") }}
	rt, err := Start(Options{PythonPath: []string{testdata()}, Logger: slog.New(handler)})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if err := rt.DefineModule("gopanics", map[string]any{
		"panics": func() { panic("kaboom") },
		"add":    func(a, b int) int { return a + b },
	}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		mustRaise(t, rt, "pyhost.GoPanic", "kaboom", "gopanics", "panics")
	}
	if got := callGo(t, rt, "gopanics", "add", 2, 3); got != int64(5) {
		t.Fatalf("add after the panics = %v", got)
	}
	if err := rt.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestDefineModuleRefusesBadDefinitions(t *testing.T) {
	rt, _ := startRuntime(t)
	bad := []struct {
		name  string
		funcs map[string]any
		class error
		msg   string
	}{
		{"json", map[string]any{"f": func() {}}, ErrConflict, "shadow the module of that name already imported"},
		{"wave", map[string]any{"f": func() {}}, ErrConflict, "shadow the importable module wave"},
		{"sys", map[string]any{"f": func() {}}, ErrConflict, "shadow"},
		{"gocalls_helper", map[string]any{"f": func() {}}, ErrConflict, "shadow the importable module"}, // on sys.path (testdata)
		{"not-an-identifier", map[string]any{"f": func() {}}, ErrInvalidArgument, "not a module name"},
		{"a.b", map[string]any{"f": func() {}}, ErrInvalidArgument, "not a module name"},
		{"gobad1", map[string]any{"f": 42}, ErrInvalidArgument, "int is not a Go func"},
		{"gobad2", map[string]any{"f": func(chan int) {}}, ErrInvalidArgument, "chan int cannot cross"},
		{"gobad3", map[string]any{"f": func() (int, int) { return 0, 0 }}, ErrInvalidArgument, "at most one"},
		{"gobad4", map[string]any{"f": func(map[int]string) {}}, ErrInvalidArgument, "cannot cross"},
		{"gobad5", map[string]any{"__init__": func() {}}, ErrInvalidArgument, "not a function name"},
		{"gobad6", map[string]any{"f": (func())(nil)}, ErrInvalidArgument, "not a Go func"},
	}
	for _, b := range bad {
		err := rt.DefineModule(b.name, b.funcs)
		if !errors.Is(err, b.class) || !strings.Contains(err.Error(), b.msg) {
			t.Errorf("DefineModule(%q): %v, want %v containing %q", b.name, err, b.class, b.msg)
		}
	}
	if err := rt.DefineModule("goonce", map[string]any{"f": func() int { return 1 }}); err != nil {
		t.Fatal(err)
	}
	if err := rt.DefineModule("goonce", map[string]any{"f": func() int { return 2 }}); !errors.Is(err, ErrConflict) {
		t.Fatalf("defining goonce twice: %v", err)
	}
	if got := callGo(t, rt, "goonce", "f"); got != int64(1) {
		t.Fatalf("goonce.f = %v after a refused redefinition", got)
	}
	// A module that failed to define is not importable.
	msg, _ := py(t, rt, "import_name").Invoke("gobad2")
	if !strings.HasPrefix(msg.(string), "ImportError") {
		t.Fatalf("import gobad2: %v", msg)
	}
}

// Shutting the runtime down from a Go function Python called would wait
// for that very call: it fails at once with ErrConflict (it used to wait
// out Close's timeout, and Shutdown without a deadline waited for ever),
// and a Close from outside afterwards succeeds.
func TestShutdownFromInsideACallIsRefused(t *testing.T) {
	rt, err := Start(Options{PythonPath: []string{testdata()}})
	if err != nil {
		t.Fatal(err)
	}
	var inside []error
	if err := rt.DefineModule("goshutdown", map[string]any{
		"shutdown": func() {
			inside = append(inside, rt.Shutdown(context.Background()), rt.Close())
		},
	}); err != nil {
		t.Fatal(err)
	}
	if got := callGo(t, rt, "goshutdown", "shutdown"); got != nil {
		t.Fatalf("goshutdown.shutdown() = %v", got)
	}
	if len(inside) != 2 {
		t.Fatalf("the Go function returned %d errors, want 2", len(inside))
	}
	for _, err := range inside {
		if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "would wait for that call") {
			t.Errorf("shutdown from inside a call: %v", err)
		}
	}
	if err := rt.Close(); err != nil {
		t.Fatalf("Close from outside: %v", err)
	}
}

// The same while another goroutine's Shutdown, with no deadline, waits for
// that call: the Close inside is refused at once rather than waiting behind
// it (both would have waited for ever), and then the outer one completes.
func TestCloseFromInsideACallWhileAnotherShutdownWaits(t *testing.T) {
	rt, err := Start(Options{PythonPath: []string{testdata()}})
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	var inner error
	if err := rt.DefineModule("gowaits", map[string]any{
		"wait": func() {
			close(entered)
			<-release
			inner = rt.Close()
		},
	}); err != nil {
		t.Fatal(err)
	}
	call := py(t, rt, "call")
	called := make(chan error, 1)
	go func() {
		_, err := call.Invoke("gowaits", "wait")
		called <- err
	}()
	<-entered
	outer := make(chan error, 1)
	go func() { outer <- rt.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond) // the outer Shutdown is waiting now (or soon: either way it must wait)
	close(release)
	for name, ch := range map[string]chan error{"the call": called, "the outer Shutdown": outer} {
		select {
		case err := <-ch:
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		case <-time.After(time.Minute):
			t.Fatalf("%s did not return: the Close inside waited behind the Shutdown outside", name)
		}
	}
	if !errors.Is(inner, ErrConflict) {
		t.Fatalf("Close from inside the call: %v", inner)
	}
}

// After the runtime closes, its module leaves sys.modules, functions of it
// that Python kept raise instead of calling Go, and its name is free again.
func TestDefinedModuleAfterClose(t *testing.T) {
	first, err := Start(Options{PythonPath: []string{testdata()}})
	if err != nil {
		t.Fatal(err)
	}
	var called atomic.Int32
	if err := first.DefineModule("goclosing", map[string]any{"f": func() { called.Add(1) }}); err != nil {
		t.Fatal(err)
	}
	rt, _ := startRuntime(t)
	callGo(t, rt, "goclosing", "f")
	if _, err := py(t, rt, "keep").Invoke("goclosing", "f"); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	// Kept from before, the function raises; imported now, the module is gone.
	kept, err := py(t, rt, "call_kept").Invoke("goclosing", "f")
	if err != nil {
		t.Fatal(err)
	}
	if pair := kept.([]any); pair[0] != "builtins.RuntimeError" || !strings.Contains(pair[1].(string), "shut down") {
		t.Fatalf("a kept function of a closed runtime's module: %v", pair)
	}
	if msg, _ := py(t, rt, "import_name").Invoke("goclosing"); !strings.HasPrefix(msg.(string), "ImportError") {
		t.Fatalf("import goclosing after its runtime closed: %v", msg)
	}
	if called.Load() != 1 {
		t.Fatalf("called %d times", called.Load())
	}
	if err := rt.DefineModule("goclosing", map[string]any{"f": func() int { return 2 }}); err != nil {
		t.Fatalf("redefining a closed runtime's module: %v", err)
	}
	if got := callGo(t, rt, "goclosing", "f"); got != int64(2) {
		t.Fatalf("goclosing.f = %v", got)
	}
	if err := rt.DefineModule("gox", nil); err != nil {
		t.Fatalf("an empty module: %v", err)
	}
}

func TestPythonExceptionsAreExceptionSubclasses(t *testing.T) {
	rt, _ := startRuntime(t)
	got, err := py(t, rt, "is_exception_subclasses").Invoke()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []any{true, true, "pyhost.GoError"}) {
		t.Fatalf("got %v", got)
	}
}

// Go functions are callable from Python threads, many at once.
func TestGoFunctionsFromPythonThreads(t *testing.T) {
	rt, _ := startRuntime(t)
	if err := rt.DefineModule("gothreads", map[string]any{"twice": func(x int) int { return 2 * x }}); err != nil {
		t.Fatal(err)
	}
	got, err := py(t, rt, "from_threads").Invoke("gothreads", "twice", 4, 50)
	if err != nil {
		t.Fatal(err)
	}
	results := got.([]any)
	if len(results) != 200 {
		t.Fatalf("%d results", len(results))
	}
	want := map[int64]bool{}
	for th := range 4 {
		for i := range 50 {
			want[int64(2*(th*1000+i))] = true
		}
	}
	for _, r := range results {
		if !want[r.(int64)] {
			t.Fatalf("unexpected result %v", r)
		}
		delete(want, r.(int64))
	}
}

// A Go function may call into Python again, which may call Go again.
func TestReentrantCalls(t *testing.T) {
	rt, _ := startRuntime(t)
	reenter := py(t, rt, "reenter")
	if err := rt.DefineModule("goreenter", map[string]any{
		"down": func(depth int) (int, error) {
			v, err := reenter.Invoke("goreenter", "down", depth)
			if err != nil {
				return 0, err
			}
			return int(v.(int64)), nil
		},
	}); err != nil {
		t.Fatal(err)
	}
	got, err := reenter.Invoke("goreenter", "down", 20)
	if err != nil {
		t.Fatal(err)
	}
	if got != int64(20) {
		t.Fatalf("depth 20 came back as %v", got)
	}
}

// The GIL is released while a Go function runs: another goroutine's Python
// call completes while the Go function waits for it.
func TestGoFunctionReleasesTheGIL(t *testing.T) {
	rt, _ := startRuntime(t)
	add := py(t, rt, "add")
	otherDone := make(chan struct{})
	if err := rt.DefineModule("goblock", map[string]any{
		"wait": func() error {
			select {
			case <-otherDone:
				return nil
			case <-time.After(time.Minute):
				return errors.New("the other goroutine's call never ran: the GIL was held")
			}
		},
	}); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(otherDone)
		if v, err := add.Invoke(1, 2); err != nil || v != int64(3) {
			t.Errorf("add: %v %v", v, err)
		}
	}()
	callGo(t, rt, "goblock", "wait")
}

// A Go function taking a context sees the calling run's cancellation, and
// the runtime's closing.
func TestGoFunctionContext(t *testing.T) {
	rt, _ := startRuntime(t)
	entered := make(chan struct{}, 1)
	var sawCancel atomic.Bool
	if err := rt.DefineModule("goctx", map[string]any{
		"wait": func(ctx context.Context) error {
			entered <- struct{}{}
			select {
			case <-ctx.Done():
				sawCancel.Store(true)
				return ctx.Err()
			case <-time.After(time.Minute):
				return errors.New("never cancelled")
			}
		},
		"alive": func(ctx context.Context) bool { return ctx.Err() == nil },
	}); err != nil {
		t.Fatal(err)
	}
	// Invoke's context.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-entered; cancel() }()
	_, err := py(t, rt, "call").InvokeContext(ctx, "goctx", "wait")
	if err != nil || !sawCancel.Load() {
		t.Fatalf("Invoke's cancellation did not reach the Go function: %v %v", err, sawCancel.Load())
	}
	if got := callGo(t, rt, "goctx", "alive"); got != true {
		t.Fatal("a fresh call's context is already done")
	}

	// A check run's context.
	sawCancel.Store(false)
	chk := loadCheck(t, rt, "gocalls.py", map[string]any{"module": "goctx", "function": "wait"})
	rctx, rcancel := context.WithCancel(context.Background())
	go func() { <-entered; rcancel() }()
	res, err := chk.Run(rctx)
	if !sawCancel.Load() {
		t.Fatalf("the run's cancellation did not reach the Go function: %v", err)
	}
	if err == nil || res == nil {
		t.Fatalf("the run: %v", err)
	}

	// Check.Cancel reaches it too, with a context that never ends.
	sawCancel.Store(false)
	go func() { <-entered; _ = chk.Cancel() }()
	if _, err := chk.Run(context.Background()); !sawCancel.Load() {
		t.Fatalf("Check.Cancel did not reach the Go function: %v", err)
	}
}

// A Go function called outside any host call (from a thread Python
// started) gets the runtime's context, cancelled when it closes.
func TestGoFunctionContextEndsWithTheRuntime(t *testing.T) {
	rt, err := Start(Options{PythonPath: []string{testdata()}})
	if err != nil {
		t.Fatal(err)
	}
	var got context.Context
	if err := rt.DefineModule("gobase2", map[string]any{
		"keep": func(ctx context.Context, _ int) { got = ctx },
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := py(t, rt, "from_threads").Invoke("gobase2", "keep", 1, 1); err != nil {
		t.Fatal(err)
	}
	if got == nil || got.Err() != nil {
		t.Fatal("no live context")
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	if got.Err() == nil {
		t.Fatal("the runtime's context outlived Close")
	}
}

func TestPublishAndGet(t *testing.T) {
	rt, _ := startRuntime(t)
	get, version := py(t, rt, "get_thawed"), py(t, rt, "version")
	value := map[string]any{
		"name":  "agent",
		"items": []any{int64(1), 2.5, "x", nil, true, []byte("raw")},
		"deep":  map[string]any{"a": map[string]any{"b": []any{}}},
		"big":   new(big.Int).Lsh(big.NewInt(1), 80),
	}
	if v, _ := version.Invoke("gotest.state"); v != int64(0) {
		t.Fatalf("version before publishing = %v", v)
	}
	if err := rt.Publish("gotest.state", value); err != nil {
		t.Fatal(err)
	}
	got, err := get.Invoke("gotest.state")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"name":  "agent",
		"items": []any{int64(1), 2.5, "x", nil, true, []byte("raw")},
		"deep":  map[string]any{"a": map[string]any{"b": []any{}}},
	}
	g := got.(map[string]any)
	if g["big"].(*big.Int).Cmp(value["big"].(*big.Int)) != 0 {
		t.Fatalf("big = %v", g["big"])
	}
	delete(g, "big")
	if !reflect.DeepEqual(g, want) {
		t.Fatalf("get = %#v", got)
	}
	if err := rt.Publish("gotest.state", []string{"v2"}); err != nil {
		t.Fatal(err)
	}
	if v, _ := version.Invoke("gotest.state"); v != int64(2) {
		t.Fatalf("version after two publications = %v", v)
	}
	if got, _ := get.Invoke("gotest.state"); !reflect.DeepEqual(got, []any{"v2"}) {
		t.Fatalf("after republishing: %#v", got)
	}
	if got, _ := py(t, rt, "get").Invoke("gotest.absent", "fallback"); got != "fallback" {
		t.Fatalf("default = %v", got)
	}
	names, _ := py(t, rt, "names").Invoke()
	if !reflect.DeepEqual(names, []any{"gotest.state"}) {
		t.Fatalf("names = %v", names)
	}

	// Bad values are refused, and what was published stays.
	for _, bad := range []any{math.NaN(), "\xff", []any{make(chan int)}, map[int]int{1: 1}, struct{}{}} {
		if err := rt.Publish("gotest.state", bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Publish(%#v): %v", bad, err)
		}
	}
	if err := rt.Publish("", 1); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Publish with no name: %v", err)
	}
	deep := any(nil)
	for range 100_000 {
		deep = []any{deep}
	}
	if err := rt.Publish("gotest.state", deep); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "deeper than 64") {
		t.Errorf("100,000-deep: %v", err)
	}
	if v, _ := version.Invoke("gotest.state"); v != int64(2) {
		t.Fatalf("a refused publication changed the version: %v", v)
	}
}

// A get of a name nothing was published under keeps nothing: a plugin
// looking up a key per request does not grow the process. (Kept, each miss
// cost about 100 bytes: 30 MB here.)
func TestGetsOfUnpublishedNamesKeepNoMemory(t *testing.T) {
	rt, _ := startRuntime(t)
	growth, err := py(t, rt, "rss_growth_of_misses").Invoke("gotest.miss", 300_000)
	if err != nil {
		t.Fatal(err)
	}
	if growth.(int64) > 8<<20 {
		t.Fatalf("300,000 gets of unpublished names grew the resident set by %d bytes", growth)
	}
	// A name looked up before it was published is found once it is.
	if err := rt.Publish("gotest.miss.7", "now"); err != nil {
		t.Fatal(err)
	}
	if got, _ := py(t, rt, "get").Invoke("gotest.miss.7"); got != "now" {
		t.Fatalf("after publishing = %v", got)
	}
}

// get hands every reader the same read-only object until the next Publish.
func TestPublishedValuesAreSharedAndReadOnly(t *testing.T) {
	rt, _ := startRuntime(t)
	if err := rt.Publish("gotest.ro", map[string]any{"items": []int{1, 2}}); err != nil {
		t.Fatal(err)
	}
	got, err := py(t, rt, "mutate").Invoke("gotest.ro")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []any{"dict:TypeError", "list:AttributeError", true, "mappingproxy"}) {
		t.Fatalf("mutation attempts: %v", got)
	}
}

// Publishing never waits for the GIL: publications complete while a Python
// call holds the GIL without releasing it.
func TestPublishDoesNotWaitForTheGIL(t *testing.T) {
	rt, _ := startRuntime(t)
	started := make(chan struct{})
	if err := rt.DefineModule("gogil", map[string]any{"started": func() { close(started) }}); err != nil {
		t.Fatal(err)
	}
	hold, err := rt.LoadFunction("benchmod", "hold_gil_after")
	if err != nil {
		t.Fatal(err)
	}
	var returned atomic.Bool
	done := make(chan error)
	go func() {
		_, err := hold.Invoke("gogil", "started")
		returned.Store(true)
		done <- err
	}()
	<-started
	for i := range 20 {
		if err := rt.Publish("gotest.gil", i); err != nil {
			t.Fatal(err)
		}
	}
	if returned.Load() {
		t.Fatal("the GIL-holding call returned before the publications finished; make it longer")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Checks see whole values while a writer republishes large, changing
// values: every get is one publication, never a mix, and readers see the
// generations go forward.
func TestPublishWhileChecksRead(t *testing.T) {
	rt, _ := startRuntime(t)
	const name, size = "gotest.changing", 2000
	publish := func(gen int) {
		records := make([]any, size)
		for i := range records {
			records[i] = map[string]any{"gen": gen, "i": i, "host": "web-01"}
		}
		if err := rt.Publish(name, map[string]any{"gen": gen, "records": records}); err != nil {
			t.Error(err)
		}
	}
	publish(0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var runs atomic.Int64
	for reader := range 3 {
		chk := loadCheck(t, rt, "state_reader.py", map[string]any{"name": name, "records": size, "reader": reader})
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := -1.0
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := chk.Run(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				whole, gen := res.Metrics[0].Value, res.Metrics[1].Value
				if whole != 1 {
					t.Errorf("a run saw a mix of publications (generation %v)", gen)
					return
				}
				if gen < last {
					t.Errorf("generation went back from %v to %v", last, gen)
					return
				}
				last = gen
				runs.Add(1)
			}
		}()
	}
	for gen := 1; gen <= 60; gen++ {
		publish(gen)
	}
	close(stop)
	wg.Wait()
	if runs.Load() == 0 {
		t.Fatal("no check ran")
	}
}

func TestInvokeMapsValuesAndRefusesBadOnes(t *testing.T) {
	rt, _ := startRuntime(t)
	echo := py(t, rt, "echo")
	if v, err := py(t, rt, "add").Invoke(2, 3); err != nil || v != int64(5) {
		t.Fatalf("add(2, 3) = %v, %v", v, err)
	}
	if v, err := py(t, rt, "noop").Invoke(); err != nil || v != nil {
		t.Fatalf("noop() = %v, %v", v, err)
	}
	for _, in := range []any{
		nil, true, false, int64(-7), uint64(math.MaxUint64), 1.5, "", "text ☃", []byte{}, []byte{0xff},
		[]any{}, map[string]any{}, []any{[]any{[]any{}}}, map[string]any{"": nil, "k": []any{int64(1)}},
	} {
		got, err := echo.Invoke(in)
		if err != nil {
			t.Fatalf("echo(%#v): %v", in, err)
		}
		if !reflect.DeepEqual(got, in) {
			t.Errorf("echo(%#v) = %#v", in, got)
		}
	}
	// Typed Go values come back in their natural Python-side types.
	got, err := echo.Invoke([]string{"a"}, map[string]int{"x": 1}, int8(-1), uint16(9), float32(0.5))
	if err == nil {
		t.Fatalf("echo takes one argument: %v", got)
	}
	got, err = echo.Invoke(map[string]any{"s": []string{"a"}, "m": map[string]int{"x": 1}, "i": int8(-1), "f": float32(0.5)})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, map[string]any{"s": []any{"a"}, "m": map[string]any{"x": int64(1)}, "i": int64(-1), "f": 0.5}) {
		t.Fatalf("typed values: %#v", got)
	}

	// Bad input.
	var pyErr *PythonError
	if _, err := py(t, rt, "cyclic").Invoke(); !errors.As(err, &pyErr) || !strings.Contains(pyErr.Message, "deeper than 64") {
		t.Errorf("a cyclic result: %v", err)
	}
	// A big int crosses by its value, without calling its class's __str__
	// (which here would change the dict mid-crossing).
	mutating := py(t, rt, "dict_with_a_mutating_big_int")
	if got, err := mutating.Invoke(); err != nil || fmt.Sprint(got) != fmt.Sprint(map[string]any{"big": new(big.Int).Lsh(big.NewInt(1), 80), "small": int64(1)}) {
		t.Errorf("a dict with a big int subclass: %v, %v", got, err)
	}
	if got, err := mutating.Call(nil); err != nil || string(got) != `{"big":1208925819614629174706176,"small":1}` {
		t.Errorf("the same as JSON: %s, %v", got, err)
	}
	if _, err := py(t, rt, "returns_nan").Invoke(); !errors.As(err, &pyErr) || pyErr.Type != "ValueError" {
		t.Errorf("a NaN result: %v", err)
	}
	if _, err := py(t, rt, "returns_set").Invoke(); !errors.As(err, &pyErr) || pyErr.Type != "TypeError" {
		t.Errorf("a set result: %v", err)
	}
	if _, err := echo.Invoke(math.Inf(-1)); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "argument 1") {
		t.Errorf("an infinite argument: %v", err)
	}
	if _, err := echo.Invoke(map[string]any{"c": make(chan int)}); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), `["c"]`) {
		t.Errorf("a chan argument: %v", err)
	}
	if _, err := echo.Invoke("\xc3\x28"); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("invalid UTF-8: %v", err)
	}
	deep := any(nil)
	for range 100_000 {
		deep = []any{deep}
	}
	if _, err := echo.Invoke(deep); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("100,000-deep argument: %v", err)
	}
	// Python values nested too deep for the host.
	deepPy, err := rt.LoadFunction("benchmod", "deep_list")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := deepPy.Invoke(100_000); !errors.As(err, &pyErr) || !strings.Contains(pyErr.Message, "deeper than 64") {
		t.Errorf("a 100,000-deep Python result: %v", err)
	}
	// A large result spills out of the lent buffer.
	long := strings.Repeat("x", 1<<20)
	if got, err := echo.Invoke(long); err != nil || got != long {
		t.Errorf("a 1 MiB string came back wrong: %v", err)
	}
	if err := echo.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := echo.Invoke(1); !errors.Is(err, ErrClosed) {
		t.Errorf("Invoke after Close: %v", err)
	}
}

// Go maps cross as dicts with their keys sorted, nested ones too, however
// many are encoded with one pooled encoder (Publish) or on their own
// (Invoke's arguments).
func TestDictKeysAreSortedAtEveryDepth(t *testing.T) {
	rt, _ := startRuntime(t)
	value := map[string]any{
		"b": 1,
		"a": map[string]any{"z": 1, "y": map[string]any{"q": 1, "p": 2}, "x": 3},
		"c": []any{map[string]any{"n": 1, "m": 2}},
	}
	want := []any{[]any{"a", []any{"x", []any{"y", []any{"p", "q"}}, "z"}}, "b", "c"}
	got, err := py(t, rt, "key_order").Invoke(value)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("key_order(value) = %#v, %v; want %#v", got, err, want)
	}
	for i := range 3 { // the pooled encoder, reused
		if err := rt.Publish("gotest.order", value); err != nil {
			t.Fatal(err)
		}
		got, err := py(t, rt, "key_order_of_published").Invoke("gotest.order")
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: the published value's keys: %#v, %v; want %#v", i, got, err, want)
		}
	}
}
