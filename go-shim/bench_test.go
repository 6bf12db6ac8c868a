package pyhost

// Benchmarks behind `make bench`. Each subject has a floor measured in the
// same run; cmd/pyhost-benchreport turns the output into ratios. Names
// encode the pairing: BenchmarkX and BenchmarkXFloor.

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pyhost.dev/pyhost/internal/benchfloor"
	"pyhost.dev/pyhost/internal/capi"
)

const submitCount = 100000

// make bench runs the accounting-sensitive benchmarks again in a process of
// their own with accounting off (-accounting=off: whether Python memory is
// counted is decided when Python starts); their results are then named
// BenchmarkX/accounting_off. (The on/off goal rows come from
// internal/accountingbench, which interleaves two such processes.)
var accountingVariant = flag.String("accounting", "", `"on" or "off": start the benchmarks' runtimes so and name their results for it`)

// variant runs f as itself, or as a sub-benchmark named for the accounting
// variant.
func variant(b *testing.B, f func(b *testing.B)) {
	switch *accountingVariant {
	case "":
		f(b)
	case "on", "off":
		b.Run("accounting_"+*accountingVariant, f)
	default:
		b.Fatalf("-accounting=%q: want on or off", *accountingVariant)
	}
}

var (
	benchOnce sync.Once
	benchRT   *Runtime
	// The per-metric baseline needs its own runtime: the callback is a
	// runtime option.
	perMetricRT       *Runtime
	perMetricReceived atomic.Int64
)

func benchRuntime(b *testing.B) *Runtime {
	benchOnce.Do(func() {
		var err error
		benchRT, err = Start(Options{PythonPath: []string{testdata()}, DisableAccounting: *accountingVariant == "off"})
		if err != nil {
			b.Fatal(err)
		}
		perMetricRT, err = Start(Options{PythonPath: []string{testdata()}, DisableAccounting: *accountingVariant == "off", perMetric: func(m capi.MetricCall) {
			if m.Name != "" && len(m.Tags) == 2 {
				perMetricReceived.Add(1)
			}
		}})
		if err != nil {
			b.Fatal(err)
		}
		if err := benchfloor.Init("benchmod", "noop"); err != nil {
			b.Fatal(err)
		}
	})
	if benchRT == nil {
		b.Fatal("no runtime")
	}
	return benchRT
}

func mustFunction(b *testing.B, rt *Runtime, name string) *Function {
	f, err := rt.LoadFunction("benchmod", name)
	if err != nil {
		b.Fatal(err)
	}
	return f
}

func BenchmarkCallFloor(b *testing.B) {
	benchRuntime(b)
	for i := 0; i < b.N; i++ {
		if err := benchfloor.Call(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCall(b *testing.B) {
	noop := mustFunction(b, benchRuntime(b), "noop")
	buf := make([]byte, 0, 64)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := noop.AppendCall(buf[:0], nil); err != nil {
			b.Fatal(err)
		}
	}
}

// callBlock is how many calls BenchmarkCallPaired makes in a row of one
// kind: about a millisecond, long enough to time with a wall clock, short
// enough that the machine's load barely moves between neighbouring blocks.
const callBlock = 10000

// BenchmarkCallPaired measures the 1-goroutine call and its floor
// interleaved, in alternating blocks of callBlock calls (each pair in
// alternating order), and reports the median of each and the median of the
// per-block-pair ratios. Measured as
// separate benchmarks (BenchmarkCall, BenchmarkCallFloor) seconds apart,
// the ratio of a 100 ns call on a shared machine moves with whatever else
// the machine did in between; blocks a millisecond apart see nearly the
// same load. One op is one call of each.
func BenchmarkCallPaired(b *testing.B) {
	noop := mustFunction(b, benchRuntime(b), "noop")
	buf := make([]byte, 0, 64)
	var floors, calls, ratios []float64
	b.ResetTimer()
	// Each side's loop calls it directly, as BenchmarkCall and
	// BenchmarkCallFloor do: no indirect call added to both.
	floorBlock := func(n int) float64 {
		start := time.Now()
		for range n {
			if err := benchfloor.Call(); err != nil {
				b.Fatal(err)
			}
		}
		return float64(time.Since(start)) / float64(n)
	}
	callBlockOf := func(n int) float64 {
		start := time.Now()
		for range n {
			if _, err := noop.AppendCall(buf[:0], nil); err != nil {
				b.Fatal(err)
			}
		}
		return float64(time.Since(start)) / float64(n)
	}
	for block, done := 0, 0; done < b.N; block, done = block+1, done+callBlock {
		n := min(callBlock, b.N-done)
		// Alternate which goes first, so that whatever one block leaves
		// behind (caches, clock speed) favours neither side.
		var floor, call float64
		if block%2 == 0 {
			floor, call = floorBlock(n), callBlockOf(n)
		} else {
			call, floor = callBlockOf(n), floorBlock(n)
		}
		floors, calls, ratios = append(floors, floor), append(calls, call), append(ratios, call/floor)
	}
	b.ReportMetric(medianOf(calls), "ns/call")
	b.ReportMetric(medianOf(floors), "floor-ns/call")
	b.ReportMetric(medianOf(ratios), "ratio")
}

func medianOf(vs []float64) float64 {
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// parallel8 runs an op on 8 goroutines (GOMAXPROCS × parallelism); each
// goroutine makes its own op (and so its own buffers).
func parallel8(b *testing.B, newOp func() func() error) {
	b.SetParallelism((8 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.RunParallel(func(pb *testing.PB) {
		op := newOp()
		for pb.Next() {
			if err := op(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkCall8Floor(b *testing.B) {
	benchRuntime(b)
	parallel8(b, func() func() error { return benchfloor.Call })
}

func BenchmarkCall8(b *testing.B) {
	noop := mustFunction(b, benchRuntime(b), "noop")
	b.ResetTimer()
	parallel8(b, noopCaller(noop))
}

// noopCaller makes a call op with its own result buffer.
func noopCaller(noop *Function) func() func() error {
	return func() func() error {
		buf := make([]byte, 0, 64)
		return func() error {
			_, err := noop.AppendCall(buf[:0], nil)
			return err
		}
	}
}

// latency8 measures each call's latency on 8 goroutines and reports the
// p50 and p99 in ns.
func latency8(b *testing.B, newOp func() func() error) {
	var mu sync.Mutex
	var all []time.Duration
	b.SetParallelism((8 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.RunParallel(func(pb *testing.PB) {
		op := newOp()
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			t := time.Now()
			if err := op(); err != nil {
				b.Error(err)
				return
			}
			local = append(local, time.Since(t))
		}
		mu.Lock()
		all = append(all, local...)
		mu.Unlock()
	})
	if len(all) == 0 {
		return
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	b.ReportMetric(float64(all[len(all)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(all[len(all)*99/100].Nanoseconds()), "p99-ns")
}

func BenchmarkCall8LatencyFloor(b *testing.B) {
	benchRuntime(b)
	latency8(b, func() func() error { return benchfloor.Call })
}

func BenchmarkCall8Latency(b *testing.B) {
	noop := mustFunction(b, benchRuntime(b), "noop")
	b.ResetTimer()
	latency8(b, noopCaller(noop))
}

// BenchmarkSubmitFloor: a pure-Python loop making the same calls (name,
// value, 2-tag list) to a no-op builtin. Reported per metric.
func BenchmarkSubmitFloor(b *testing.B) {
	variant(b, func(b *testing.B) {
		floor := mustFunction(b, benchRuntime(b), "submit_floor")
		args := []byte("[100000]")
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := floor.Call(args); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*submitCount), "ns/metric")
	})
}

func benchSubmitCheck(b *testing.B, rt *Runtime) *Check {
	class, err := rt.LoadCheckClass(testdata("checks", "bench_submit.py"), "")
	if err != nil {
		b.Fatal(err)
	}
	chk, err := class.NewCheck("bench_submit", nil, map[string]any{"count": submitCount, "rt": rt.id, "n": b.N})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = chk.Close() })
	return chk
}

// BenchmarkSubmit: a check submits 100,000 gauges with 2 tags; every one is
// received in Go as part of the run's batch, decoded into a Result reused
// from run to run (RunInto), as a scheduler consuming each run does.
func BenchmarkSubmit(b *testing.B) {
	variant(b, func(b *testing.B) {
		chk := benchSubmitCheck(b, benchRuntime(b))
		var res Result
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := chk.RunInto(context.Background(), &res); err != nil {
				b.Fatal(err)
			}
			if len(res.Metrics) != submitCount || len(res.Metrics[submitCount-1].Tags) != 2 {
				b.Fatalf("received %d metrics", len(res.Metrics))
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*submitCount), "ns/metric")
	})
}

// BenchmarkSubmitNewResult: the same with Run, which allocates a new Result
// (100,000 Metric values) every run.
func BenchmarkSubmitNewResult(b *testing.B) {
	variant(b, func(b *testing.B) {
		chk := benchSubmitCheck(b, benchRuntime(b))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			res, err := chk.Run(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			if len(res.Metrics) != submitCount || len(res.Metrics[submitCount-1].Tags) != 2 {
				b.Fatalf("received %d metrics", len(res.Metrics))
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*submitCount), "ns/metric")
	})
}

// BenchmarkSubmitPerMetricCallback: the same check, each metric delivered to
// Go by its own cgo callback with its tags copied (the Datadog Agent's way).
func BenchmarkSubmitPerMetricCallback(b *testing.B) {
	variant(b, func(b *testing.B) {
		benchRuntime(b)
		chk := benchSubmitCheck(b, perMetricRT)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			perMetricReceived.Store(0)
			if _, err := chk.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
			if got := perMetricReceived.Load(); got != submitCount {
				b.Fatalf("received %d metrics", got)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*submitCount), "ns/metric")
	})
}

func trivialChecks(b *testing.B, n int) []*Check {
	class, err := benchRuntime(b).LoadCheckClass(testdata("checks", "trivial.py"), "")
	if err != nil {
		b.Fatal(err)
	}
	checks := make([]*Check, n)
	for i := range checks {
		if checks[i], err = class.NewCheck("trivial", nil, map[string]any{"bench": i, "n": b.N}); err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() {
		for _, c := range checks {
			_ = c.Close()
		}
	})
	return checks
}

// BenchmarkRunTrivial: one full run of a check submitting 1 metric.
func BenchmarkRunTrivial(b *testing.B) {
	variant(b, func(b *testing.B) {
		chk := trivialChecks(b, 1)[0]
		ctx := context.Background()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := chk.Run(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAllocate: a pure-Python loop making and dropping a 64-byte
// bytes object (b"x" * 64), one allocation and one free per iteration: with
// accounting on and off, the allocator hook's cost per allocation.
func BenchmarkAllocate(b *testing.B) {
	variant(b, func(b *testing.B) {
		allocate := mustFunction(b, benchRuntime(b), "allocate")
		const n = 100_000
		args := []byte("[100000]")
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := allocate.Call(args); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/allocation")
	})
}

// BenchmarkRunTrivial8: 8 goroutines, each running its own trivial check.
func BenchmarkRunTrivial8(b *testing.B) {
	checks := trivialChecks(b, 8)
	var next atomic.Int64
	ctx := context.Background()
	b.ResetTimer()
	b.SetParallelism((8 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.RunParallel(func(pb *testing.PB) {
		chk := checks[int(next.Add(1)-1)%len(checks)]
		for pb.Next() {
			if _, err := chk.Run(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func rssBytes() int64 {
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, resident int64
	_, _ = fmt.Sscan(string(raw), &size, &resident)
	return resident * int64(os.Getpagesize())
}

// BenchmarkMemoryPerCheck: resident memory added by 1,000 loaded and run
// check instances, measured in a fresh process (ns/op is not meaningful).
func BenchmarkMemoryPerCheck(b *testing.B) {
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(os.Args[0], "-test.run", "^$")
		cmd.Env = append(os.Environ(), "PYHOST_MEMORY_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("child: %v\n%s", err, out)
		}
		var perCheck float64
		for _, line := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(line, "bytes/check "); ok {
				perCheck, _ = strconv.ParseFloat(v, 64)
			}
		}
		if perCheck <= 0 {
			b.Fatalf("no measurement in:\n%s", out)
		}
		b.ReportMetric(perCheck, "bytes/check")
	}
}

// TestMain lets BenchmarkMemoryPerCheck re-run this binary as a fresh
// process that only measures memory.
func TestMain(m *testing.M) {
	if os.Getenv("PYHOST_MEMORY_CHILD") == "1" {
		measureMemoryPerCheck()
		return
	}
	os.Exit(m.Run())
}

// measureMemoryPerCheck prints the resident memory added by 1,000 loaded
// and run checks, in a process where no earlier benchmark freed memory
// that could hide the growth.
func measureMemoryPerCheck() {
	fail := func(err error) {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	rt, err := Start(Options{PythonPath: []string{testdata()}})
	if err != nil {
		fail(err)
	}
	class, err := rt.LoadCheckClass(testdata("checks", "trivial.py"), "")
	if err != nil {
		fail(err)
	}
	make1000 := func(round int) []*Check {
		checks := make([]*Check, 1000)
		for i := range checks {
			if checks[i], err = class.NewCheck("trivial", nil, map[string]any{"i": i, "round": round}); err != nil {
				fail(err)
			}
			if _, err := checks[i].Run(context.Background()); err != nil {
				fail(err)
			}
		}
		return checks
	}
	warm := make1000(0)  // warm up allocators and caches; kept alive
	debug.FreeOSMemory() // Go's heap as small as it gets, before and after
	before := rssBytes()
	checks := make1000(1)
	debug.FreeOSMemory()
	fmt.Printf("bytes/check %d\n", (rssBytes()-before)/int64(len(checks)))
	runtime.KeepAlive(checks)
	runtime.KeepAlive(warm)
	_ = rt.Close()
}

// BenchmarkDatadogCheck10k runs a datadog_checks.base check submitting
// 10,000 gauges through the whole stack (Go API → engine → the aggregator
// builtin → batch → Go Metric values).
func BenchmarkDatadogCheck10k(b *testing.B) {
	rt := benchRuntime(b)
	class, err := rt.LoadCheckClass(testdata("checks", "dd_bench.py"), "")
	if err != nil {
		b.Fatal(err)
	}
	defer class.Close()
	chk, err := class.NewCheck("dd_bench", nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer chk.Close()
	b.ResetTimer()
	for b.Loop() {
		res, err := chk.Run(context.Background())
		if err != nil || len(res.Metrics) != 10000 {
			b.Fatalf("run: %v (%d metrics)", err, len(res.Metrics))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/run")
}

// BenchmarkDatadogCheck10kFloor runs the same check in plain Python against
// datadog_checks_base's stub aggregator, in a child process of the venv's
// Python, and reports its median run time.
func BenchmarkDatadogCheck10kFloor(b *testing.B) {
	python := os.Getenv("PYHOST_EXPECT_EXECUTABLE")
	if python == "" {
		b.Fatal("PYHOST_EXPECT_EXECUTABLE (the venv's Python) is not set: run through make bench")
	}
	out, err := exec.Command(python, testdata("dd_bench_stub.py"), "50").Output()
	if err != nil {
		b.Fatalf("%v: %s", err, out)
	}
	ns, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(ns, "ns/run")
}
