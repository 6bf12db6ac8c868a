package pyhost

// Benchmarks of the bridge (make bench): Python calling Go, typed calls
// from Go, host state. Each has its floor measured in the same run.

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"pyhost.dev/pyhost/internal/benchfloor"
)

var bridgeBenchOnce sync.Once

// bridgeBench sets up what the bridge benchmarks share: a Go module
// `benchgo` with a no-op, the C extension floor, and the C binding of add.
func bridgeBench(b *testing.B) *Runtime {
	rt := benchRuntime(b)
	bridgeBenchOnce.Do(func() {
		if err := rt.DefineModule("benchgo", map[string]any{"noop": func() {}}); err != nil {
			b.Fatal(err)
		}
		if err := benchfloor.InstallExtension("benchmod"); err != nil {
			b.Fatal(err)
		}
		if err := benchfloor.InitAdd("benchmod", "add"); err != nil {
			b.Fatal(err)
		}
	})
	return rt
}

// pythonLoop has Python call module.name() b.N times.
func pythonLoop(b *testing.B, module, name string) {
	loop := mustFunction(b, bridgeBench(b), "loop")
	if _, err := loop.Invoke(module, name, 1000); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if _, err := loop.Invoke(module, name, b.N); err != nil {
		b.Fatal(err)
	}
}

// Python → Go: a loop calling a Go no-op defined with DefineModule. The
// goal row measures it interleaved with its floor
// (BenchmarkPythonToGoNoopPaired); these are the separate figures.
func BenchmarkPythonToGoNoop(b *testing.B) { pythonLoop(b, "benchgo", "noop") }

// Its floor: the same loop calling a C extension function (METH_NOARGS)
// that calls a cgo-exported Go no-op with the GIL released around the call
// (Py_BEGIN/END_ALLOW_THREADS), as DefineModule's functions must: a Go
// function may block, and other threads' Python goes on meanwhile.
func BenchmarkPythonToGoNoopFloor(b *testing.B) {
	before := benchfloor.GoNoops()
	pythonLoop(b, "benchmod", "c_noop_nogil")
	if benchfloor.GoNoops()-before < uint64(b.N) {
		b.Fatal("the C extension did not call Go")
	}
}

// The C extension holding the GIL while Go runs (which a Go function that
// blocks cannot do): what the GIL hand-over alone costs.
func BenchmarkPythonToGoNoopFloorGILHeld(b *testing.B) {
	pythonLoop(b, "benchmod", "c_noop")
}

// Go → Python typed: Invoke(2, 3) of add.
func BenchmarkInvokeAdd(b *testing.B) {
	add := mustFunction(b, bridgeBench(b), "add")
	b.ResetTimer()
	for range b.N {
		v, err := add.Invoke(2, 3)
		if err != nil || v != int64(5) {
			b.Fatalf("add(2, 3) = %v, %v", v, err)
		}
	}
}

// Its floor: cgo into C doing Ensure, two PyLong_FromLongLong, the call,
// PyLong_AsLongLong, Release, thread state kept.
func BenchmarkInvokeAddFloor(b *testing.B) {
	bridgeBench(b)
	b.ResetTimer()
	for range b.N {
		if v := benchfloor.CallAdd(2, 3); v != 5 {
			b.Fatalf("add(2, 3) = %d", v)
		}
	}
}

func BenchmarkInvokeAdd8(b *testing.B) {
	add := mustFunction(b, bridgeBench(b), "add")
	b.ResetTimer()
	parallel8(b, func() func() error {
		return func() error {
			v, err := add.Invoke(2, 3)
			if err == nil && v != int64(5) {
				err = fmt.Errorf("add(2, 3) = %v", v)
			}
			return err
		}
	})
}

func BenchmarkInvokeAdd8Floor(b *testing.B) {
	bridgeBench(b)
	b.ResetTimer()
	parallel8(b, func() func() error {
		return func() error {
			if v := benchfloor.CallAdd(2, 3); v != 5 {
				return fmt.Errorf("add(2, 3) = %d", v)
			}
			return nil
		}
	})
}

// Invoke(add) on one goroutine while another goroutine's Python call sits
// in a Go function that blocks for the whole measurement (the default
// benchtime, 1 s): the GIL is released while Go runs, so the calls go on.
func BenchmarkInvokeAddWhileGoBlocks(b *testing.B) {
	rt := bridgeBench(b)
	add := mustFunction(b, rt, "add")
	release := make(chan struct{})
	entered := make(chan struct{})
	name := fmt.Sprintf("benchblock%d", b.N)
	if err := rt.DefineModule(name, map[string]any{"block": func() { close(entered); <-release }}); err != nil {
		b.Fatal(err)
	}
	loop := mustFunction(b, rt, "loop")
	blocked := make(chan error)
	go func() {
		_, err := loop.Invoke(name, "block", 1)
		blocked <- err
	}()
	<-entered
	b.ResetTimer()
	for range b.N {
		if _, err := add.Invoke(2, 3); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	close(release)
	if err := <-blocked; err != nil {
		b.Fatal(err)
	}
}

// stateRecords is the benchmark's host state: 10,000 small records.
func stateRecords() map[string]any {
	records := make(map[string]any, 10_000)
	for i := range 10_000 {
		records[fmt.Sprintf("check_%05d", i)] = map[string]any{
			"status":      "ok",
			"runs":        i,
			"errors":      i % 3,
			"duration_ms": 1.5 + float64(i),
			"host":        "web-01",
		}
	}
	return records
}

// host.get() of the 10,000 records, republished from Go before each get,
// timed in Python around the get alone.
func BenchmarkHostStateGet10k(b *testing.B) {
	rt := bridgeBench(b)
	records := stateRecords()
	measure := mustFunction(b, rt, "measure_get")
	var total float64
	for range b.N {
		if err := rt.Publish("pyhost.bench.state", records); err != nil {
			b.Fatal(err)
		}
		ns, err := measure.Invoke("pyhost.bench.state")
		if err != nil {
			b.Fatal(err)
		}
		total += float64(ns.(int64))
	}
	b.ReportMetric(total/float64(b.N), "ns/get")
}

// Its floor: json.loads of the same records as JSON text, in the embedded
// Python, timed the same way.
func BenchmarkHostStateGet10kFloor(b *testing.B) {
	rt := bridgeBench(b)
	text, err := json.Marshal(stateRecords())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := mustFunction(b, rt, "set_json").Invoke(string(text)); err != nil {
		b.Fatal(err)
	}
	measure := mustFunction(b, rt, "measure_json_loads")
	var total float64
	for range b.N {
		ns, err := measure.Invoke()
		if err != nil {
			b.Fatal(err)
		}
		total += float64(ns.(int64))
	}
	b.ReportMetric(total/float64(b.N), "ns/get")
}

// A get of an unchanged value, per get in a Python loop; its floor is the
// same loop doing dict.get.
func BenchmarkHostStateGetUnchanged(b *testing.B) {
	rt := bridgeBench(b)
	if err := rt.Publish("pyhost.bench.state", stateRecords()); err != nil {
		b.Fatal(err)
	}
	measure := mustFunction(b, rt, "measure_get_unchanged")
	b.ResetTimer()
	ns, err := measure.Invoke("pyhost.bench.state", b.N)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(ns.(float64), "ns/get")
}

func BenchmarkHostStateGetUnchangedFloor(b *testing.B) {
	rt := bridgeBench(b)
	measure := mustFunction(b, rt, "measure_dict_get")
	b.ResetTimer()
	ns, err := measure.Invoke(b.N)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(ns.(float64), "ns/get")
}
