package pyhost

// Benchmarks measured interleaved with their floors (see interleaved); the
// goal rows of make bench at 1 goroutine. BenchmarkCallPaired predates the
// helper and makes its loops itself.

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"pyhost.dev/pyhost/internal/benchfloor"
)

// BenchmarkInvokeAddPaired measures BenchmarkInvokeAdd's call and its
// floor interleaved (see interleaved).
func BenchmarkInvokeAddPaired(b *testing.B) {
	add := mustFunction(b, bridgeBench(b), "add")
	b.ResetTimer()
	interleaved(b, func(n int) {
		for range n {
			if v := benchfloor.CallAdd(2, 3); v != 5 {
				b.Fatalf("add(2, 3) = %d", v)
			}
		}
	}, func(n int) {
		for range n {
			if v, err := add.Invoke(2, 3); err != nil || v != int64(5) {
				b.Fatalf("add(2, 3) = %v, %v", v, err)
			}
		}
	})
}

// BenchmarkPythonToGoNoopPaired measures BenchmarkPythonToGoNoop's loop
// and its floor, the C extension releasing the GIL around its Go call as
// DefineModule's functions do, interleaved (see interleaved): each block
// is one Python loop of n calls.
func BenchmarkPythonToGoNoopPaired(b *testing.B) {
	loop := mustFunction(b, bridgeBench(b), "loop")
	calls := func(module, name string) func(n int) {
		return func(n int) {
			if _, err := loop.Invoke(module, name, n); err != nil {
				b.Fatal(err)
			}
		}
	}
	calls("benchgo", "noop")(1000)
	calls("benchmod", "c_noop_nogil")(1000)
	before := benchfloor.GoNoops()
	b.ResetTimer()
	interleaved(b, calls("benchmod", "c_noop_nogil"), calls("benchgo", "noop"))
	b.StopTimer()
	if benchfloor.GoNoops()-before < uint64(b.N) {
		b.Fatal("the C extension did not call Go")
	}
}

// BenchmarkHookDispatchPaired measures BenchmarkHookDispatchNoop's call
// and the call floor interleaved (see interleaved). make bench runs it
// again with accounting off (see variant): the hook call without its meter.
func BenchmarkHookDispatchPaired(b *testing.B) {
	variant(b, func(b *testing.B) {
		hookDispatchPaired(b, hookPoint(b, "bench.dispatch.paired", true))
	})
}

// BenchmarkHookDispatchUnmeteredPaired is BenchmarkHookDispatchPaired with
// the hook's meter taken off (SetMeter(nil)) in the same process: what the
// meter adds to a hook call is the difference of the two.
func BenchmarkHookDispatchUnmeteredPaired(b *testing.B) {
	hp := hookPoint(b, "bench.dispatch.unmetered", true)
	hp.set.Load().dispatch.SetMeter(nil)
	if st := hookDispatchPaired(b, hp); st.Usage.Calls != 0 {
		b.Fatalf("the meter was taken off but counted %d calls", st.Usage.Calls)
	}
}

// hookDispatchPaired interleaves hp's pass-through call with the call floor
// and returns hp's statistics after checking every call went through.
func hookDispatchPaired(b *testing.B, hp *HookPoint) HookStats {
	ctx := context.Background()
	b.ResetTimer()
	interleaved(b, floorCalls(b), func(n int) {
		for range n {
			if _, err := hp.Call(ctx, "index.php", passOp); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.StopTimer()
	st := hp.Stats()
	if st.Errors != 0 || st.Calls < uint64(b.N) {
		b.Fatalf("stats: %+v", st)
	}
	return st
}

// BenchmarkInvokeStrPaired measures the typed call a hook call makes,
// Invoke("index.php") of the hook's function with no meter and no hook
// point, and the call floor interleaved (see interleaved).
func BenchmarkInvokeStrPaired(b *testing.B) {
	pass := mustFunction(b, benchRuntime(b), "hook_pass")
	b.ResetTimer()
	interleaved(b, floorCalls(b), func(n int) {
		for range n {
			if v, err := pass.Invoke("index.php"); err != nil || v != nil {
				b.Fatalf("hook_pass(\"index.php\") = %v, %v", v, err)
			}
		}
	})
}

// BenchmarkInvokeLongStrPaired is BenchmarkInvokeStrPaired with a
// request too long to be shared (a path of 40 ASCII bytes): each call makes
// its str. Interleaved with the call floor.
func BenchmarkInvokeLongStrPaired(b *testing.B) {
	pass := mustFunction(b, benchRuntime(b), "hook_pass")
	const path = "/srv/www/include/lib/templates/index.php"
	b.ResetTimer()
	interleaved(b, floorCalls(b), func(n int) {
		for range n {
			if v, err := pass.Invoke(path); err != nil || v != nil {
				b.Fatalf("hook_pass(%q) = %v, %v", path, v, err)
			}
		}
	})
}

// floorCalls makes n calls of the call floor.
func floorCalls(b *testing.B) func(n int) {
	return func(n int) {
		for range n {
			if err := benchfloor.Call(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// interleaved measures a subject and its floor in alternating blocks of
// callBlock calls (each pair in alternating order), and reports the median
// of each and the median of the per-block-pair ratios. Measured as separate
// benchmarks seconds apart, the ratio of a 100 ns call on a shared machine
// moves with whatever else the machine did in between; blocks a
// millisecond apart see nearly the same load. Each block function makes
// its n calls in a loop of its own: no indirect call per call.
func interleaved(b *testing.B, floor, subject func(n int)) {
	var floors, subjects, ratios []float64
	timed := func(block func(int), n int) float64 {
		start := time.Now()
		block(n)
		return float64(time.Since(start)) / float64(n)
	}
	for block, done := 0, 0; done < b.N; block, done = block+1, done+callBlock {
		n := min(callBlock, b.N-done)
		// Alternate which goes first, so that whatever one block leaves
		// behind (caches, clock speed) favours neither side.
		var f, s float64
		if block%2 == 0 {
			f, s = timed(floor, n), timed(subject, n)
		} else {
			s, f = timed(subject, n), timed(floor, n)
		}
		floors, subjects, ratios = append(floors, f), append(subjects, s), append(ratios, s/f)
	}
	b.ReportMetric(medianOf(subjects), "ns/call")
	b.ReportMetric(medianOf(floors), "floor-ns/call")
	b.ReportMetric(medianOf(ratios), "ratio")
}

// BenchmarkHostStateGet10kPaired measures BenchmarkHostStateGet10k's get
// and its floor (json.loads of the same records) in alternating pairs, each
// pair in alternating order, and reports the medians and the median of the
// per-pair ratios: each is ~10 ms, long enough to time one at a time, and
// a pair's two halves see the same load on a shared machine.
func BenchmarkHostStateGet10kPaired(b *testing.B) {
	rt := bridgeBench(b)
	records := stateRecords()
	text, err := json.Marshal(records)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := mustFunction(b, rt, "set_json").Invoke(string(text)); err != nil {
		b.Fatal(err)
	}
	measureGet := mustFunction(b, rt, "measure_get")
	measureLoads := mustFunction(b, rt, "measure_json_loads")
	get := func() float64 {
		if err := rt.Publish("pyhost.bench.state", records); err != nil {
			b.Fatal(err)
		}
		ns, err := measureGet.Invoke("pyhost.bench.state")
		if err != nil {
			b.Fatal(err)
		}
		return float64(ns.(int64))
	}
	loads := func() float64 {
		ns, err := measureLoads.Invoke()
		if err != nil {
			b.Fatal(err)
		}
		return float64(ns.(int64))
	}
	var gets, floors, ratios []float64
	b.ResetTimer()
	for i := range b.N {
		var g, f float64
		if i%2 == 0 {
			g, f = get(), loads()
		} else {
			f, g = loads(), get()
		}
		gets, floors, ratios = append(gets, g), append(floors, f), append(ratios, g/f)
	}
	b.ReportMetric(medianOf(gets), "ns/get")
	b.ReportMetric(medianOf(floors), "floor-ns/get")
	b.ReportMetric(medianOf(ratios), "ratio")
}
