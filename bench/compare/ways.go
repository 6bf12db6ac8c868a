package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"example.com/glupy/lookup"
	"pyhost.dev/pyhost"
)

// The three ways every workload is implemented.
const (
	wayGo     = "go"     // a Go function: what the work costs with no Python at all
	wayPyhost = "pyhost" // Python embedded through pyhost: a function, a check
	wayRPC    = "rpc"    // Python in a worker process, msgpack over a Unix socket
)

var ways = []string{wayGo, wayPyhost, wayRPC}

// Parameters shared by the three ways: the same inputs everywhere.
const (
	metricCount = 10000 // the metric-heavy check's submissions per run
	cpuSteps    = 20000 // steps of cpu_work per unit of CPU-bound work
	ioWait      = 0.05  // seconds the I/O-bound check waits
	goLoopCalls = 1000  // Go calls per op of the Python → Go workload
	tagShards   = 16    // the shard tag's values, as workloads.TAGS_MOD
	metricName  = "compare.metric"
	// The glupy demo's lookup workload: 1,000 lookups of 50 files over 10
	// include directories, each probe a stat plus a 50 µs round trip.
	glupyDirs    = 10
	glupyFiles   = 50
	glupyLookups = 1000
	glupyDelay   = 50 * time.Microsecond
)

// op is one operation of a workload, as one caller makes it; it checks
// what it got back, so that every way is seen to do the whole work.
type op func() error

// env holds what the ways share: the runtime, the worker, loaded code.
type env struct {
	rt       *pyhost.Runtime
	worker   *worker
	classes  map[string]*pyhost.CheckClass
	funcs    map[string]*pyhost.Function
	goCalled atomic.Int64 // calls of the Go no-op Python makes
	checks   atomic.Int64 // check instances made (each caller has its own)
	cpuWant  int64        // cpu_work(cpuSteps), computed in Go
	// The glupy workload: its include directories (under root), lookups,
	// and the service whose hook points run negative_cache.py.
	root       string
	glupy      *lookup.Workload
	dirs       []string
	service    *lookup.Service
	cacheReset *pyhost.Function
}

// The Go way's functions are called through variables, so that the
// compiler cannot fold a call away.
var (
	goNoop = func() {}
	goAdd  = func(a, b int64) int64 { return a + b }
)

func cpuWork(n int) int64 {
	var total int64
	for i := range n {
		total += int64(i) * int64(i) % 7
	}
	return total
}

type goMetric struct {
	Name  string
	Value float64
	Tags  []string
}

func metricTags(i int) []string {
	return []string{"shard:" + strconv.Itoa(i%tagShards), "env:compare"}
}

func newEnv(python, here string) (*env, error) {
	rt, err := pyhost.Start(pyhost.Options{PythonPath: []string{here}})
	if err != nil {
		return nil, err
	}
	e := &env{rt: rt, classes: map[string]*pyhost.CheckClass{}, funcs: map[string]*pyhost.Function{}, cpuWant: cpuWork(cpuSteps)}
	if err := rt.DefineModule("comparego", map[string]any{"noop": func() { e.goCalled.Add(1) }}); err != nil {
		e.close()
		return nil, err
	}
	for _, name := range []string{"noop", "add", "call_go_loop"} {
		if e.funcs[name], err = rt.LoadFunction("workloads", name); err != nil {
			e.close()
			return nil, err
		}
	}
	for _, name := range []string{"MetricsCheck", "CpuCheck", "IoCheck"} {
		if e.classes[name], err = rt.LoadCheckClass("workloads", name); err != nil {
			e.close()
			return nil, err
		}
	}
	if err := e.glupySetUp(here); err != nil {
		e.close()
		return nil, err
	}
	if e.worker, err = startWorker(python, here); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// glupySetUp lays out the glupy workload's files and loads the demo's
// negative-lookup cache as hooks on the service's "lookup" and "create".
func (e *env) glupySetUp(here string) error {
	var err error
	if e.root, err = os.MkdirTemp("", "pyhost-compare-glupy-"); err != nil {
		return err
	}
	if e.dirs, err = lookup.IncludeDirs(e.root, glupyDirs); err != nil {
		return err
	}
	if e.glupy, err = lookup.NewWorkload(e.dirs, glupyFiles, glupyLookups, 1); err != nil {
		return err
	}
	cache := filepath.Join(here, "..", "..", "examples", "glupy", "negative_cache.py")
	if _, err := e.rt.LoadHooks(cache); err != nil {
		return err
	}
	if e.cacheReset, err = e.rt.LoadFunction(cache, "reset"); err != nil {
		return err
	}
	e.service = lookup.NewService(e.rt, e.dirs, glupyDelay)
	return nil
}

func (e *env) close() {
	if e.worker != nil {
		e.worker.close()
	}
	_ = e.rt.Close()
	if e.root != "" {
		os.RemoveAll(e.root)
	}
}

// cachedLookups runs the glupy workload from an empty cache, each probe
// asking absent(path) first and telling learn(path, found) after: the
// negative-lookup cache as the Go and RPC ways call theirs (pyhost's is
// on the service's hook points).
func (e *env) cachedLookups(reset func() error, absent func(path string) (bool, error), learn func(path string, found bool) error) error {
	if err := reset(); err != nil {
		return err
	}
	for _, name := range e.glupy.Lookups {
		at := -1
		for i, dir := range e.dirs {
			path := filepath.Join(dir, name)
			known, err := absent(path)
			if err != nil {
				return err
			}
			if known {
				continue
			}
			found, err := lookup.Probe(path, glupyDelay)
			if err != nil {
				return err
			}
			if err := learn(path, found); err != nil {
				return err
			}
			if found {
				at = i
				break
			}
		}
		if at != e.glupy.Home[name] {
			return fmt.Errorf("%s found in directory %d, it is in %d", name, at, e.glupy.Home[name])
		}
	}
	return nil
}

// newOp makes one caller's op of a workload, done one way, and what to
// release after the measurement.
func (e *env) newOp(workload, way string) (op, func(), error) {
	none := func() {}
	switch way {
	case wayGo:
		return e.goOp(workload), none, nil
	case wayPyhost:
		return e.pyhostOp(workload)
	case wayRPC:
		c, err := e.worker.dial()
		if err != nil {
			return nil, none, err
		}
		return e.rpcOp(workload, c), c.close, nil
	}
	return nil, none, fmt.Errorf("unknown way %q", way)
}

func (e *env) goOp(workload string) op {
	switch workload {
	case "call_noop":
		return func() error { goNoop(); return nil }
	case "call_add":
		return func() error {
			if v := goAdd(2, 3); v != 5 {
				return fmt.Errorf("add(2, 3) = %d", v)
			}
			return nil
		}
	case "metrics_10k":
		out := make([]goMetric, 0, metricCount)
		return func() error {
			out = out[:0]
			for i := range metricCount {
				out = append(out, goMetric{Name: metricName, Value: float64(i), Tags: metricTags(i)})
			}
			return checkMetrics(len(out), out[len(out)-1].Name, out[len(out)-1].Tags)
		}
	case "cpu_bound":
		return func() error { return e.checkCPU(cpuWork(cpuSteps)) }
	case "io_bound":
		return func() error { sleepSeconds(ioWait); return nil }
	case "python_to_go":
		return func() error {
			for range goLoopCalls {
				goNoop()
			}
			return nil
		}
	case "glupy_lookup":
		var absentPaths map[string]struct{}
		return func() error {
			return e.cachedLookups(
				func() error { absentPaths = map[string]struct{}{}; return nil },
				func(path string) (bool, error) { _, ok := absentPaths[path]; return ok, nil },
				func(path string, found bool) error {
					if !found {
						absentPaths[path] = struct{}{}
					}
					return nil
				})
		}
	}
	return unknownWorkload(workload)
}

func (e *env) pyhostOp(workload string) (op, func(), error) {
	none := func() {}
	switch workload {
	case "call_noop":
		f := e.funcs["noop"]
		return func() error {
			v, err := f.Invoke()
			if err == nil && v != nil {
				err = fmt.Errorf("noop() = %v", v)
			}
			return err
		}, none, nil
	case "call_add":
		f := e.funcs["add"]
		return func() error {
			v, err := f.Invoke(2, 3)
			if n, ok := v.(int64); err == nil && (!ok || n != 5) {
				err = fmt.Errorf("add(2, 3) = %v", v)
			}
			return err
		}, none, nil
	case "python_to_go":
		f := e.funcs["call_go_loop"]
		return func() error {
			v, err := f.Invoke(goLoopCalls)
			if n, ok := v.(int64); err == nil && (!ok || n != goLoopCalls) {
				err = fmt.Errorf("call_go_loop(%d) = %v", goLoopCalls, v)
			}
			return err
		}, none, nil
	}
	if workload == "glupy_lookup" {
		ctx := context.Background()
		return func() error {
			if _, err := e.cacheReset.Invoke(); err != nil {
				return err
			}
			_, err := e.glupy.Run(ctx, e.service)
			return err
		}, none, nil
	}
	class, instance := map[string]string{"metrics_10k": "MetricsCheck", "cpu_bound": "CpuCheck", "io_bound": "IoCheck"}[workload], map[string]any{}
	switch workload {
	case "metrics_10k":
		instance["count"] = metricCount
	case "cpu_bound":
		instance["n"] = cpuSteps
	case "io_bound":
		instance["seconds"] = ioWait
	default:
		return unknownWorkload(workload), none, nil
	}
	chk, err := e.classes[class].NewCheck(fmt.Sprintf("%s_%d", workload, e.checks.Add(1)), nil, instance)
	if err != nil {
		return nil, none, err
	}
	var res pyhost.Result
	ctx := context.Background()
	return func() error {
		if err := chk.RunInto(ctx, &res); err != nil {
			return err
		}
		switch workload {
		case "metrics_10k":
			if len(res.Metrics) == 0 {
				return checkMetrics(0, "", nil)
			}
			last := res.Metrics[len(res.Metrics)-1]
			return checkMetrics(len(res.Metrics), last.Name, last.Tags)
		case "cpu_bound":
			if len(res.Metrics) != 1 {
				return fmt.Errorf("the CPU-bound check submitted %d metrics, want 1", len(res.Metrics))
			}
			return e.checkCPU(int64(res.Metrics[0].Value))
		}
		return nil
	}, func() { _ = chk.Close() }, nil
}

func (e *env) rpcOp(workload string, c *rpcConn) op {
	switch workload {
	case "call_noop":
		return func() error { return c.call(nil, nil, "noop") }
	case "call_add":
		return func() error {
			var v int64
			if err := c.call(&v, nil, "add", 2, 3); err != nil {
				return err
			}
			if v != 5 {
				return fmt.Errorf("add(2, 3) = %d", v)
			}
			return nil
		}
	case "metrics_10k":
		return func() error {
			var got []rpcMetric
			if err := c.call(&got, nil, "metrics", metricCount); err != nil {
				return err
			}
			if len(got) == 0 {
				return checkMetrics(0, "", nil)
			}
			return checkMetrics(len(got), got[len(got)-1].Name, got[len(got)-1].Tags)
		}
	case "cpu_bound":
		return func() error {
			var v int64
			if err := c.call(&v, nil, "cpu_work", cpuSteps); err != nil {
				return err
			}
			return e.checkCPU(v)
		}
	case "io_bound":
		return func() error { return c.call(nil, nil, "io_wait", ioWait) }
	case "python_to_go":
		callback := func(string) any { e.goCalled.Add(1); return nil }
		return func() error {
			var n int64
			if err := c.call(&n, callback, "call_go_loop", goLoopCalls); err != nil {
				return err
			}
			if n != goLoopCalls {
				return fmt.Errorf("call_go_loop(%d) = %d", goLoopCalls, n)
			}
			return nil
		}
	case "glupy_lookup":
		return func() error {
			return e.cachedLookups(
				func() error { return c.call(nil, nil, "cache_reset") },
				func(path string) (bool, error) {
					var answer *bool // None: probe it; False: known absent
					err := c.call(&answer, nil, "cache_dispatch", path)
					return answer != nil && !*answer, err
				},
				func(path string, found bool) error { return c.call(nil, nil, "cache_learn", path, found) })
		}
	}
	return unknownWorkload(workload)
}

func unknownWorkload(name string) op {
	return func() error { return fmt.Errorf("unknown workload %q", name) }
}

// checkMetrics checks a run's submissions: all of them, the last one as
// every way makes it.
func checkMetrics(n int, lastName string, lastTags []string) error {
	want := metricTags(metricCount - 1)
	if n != metricCount || lastName != metricName || len(lastTags) != 2 || lastTags[0] != want[0] || lastTags[1] != want[1] {
		return fmt.Errorf("got %d metrics, the last %q %v; want %d, the last %q %v", n, lastName, lastTags, metricCount, metricName, want)
	}
	return nil
}

func (e *env) checkCPU(got int64) error {
	if got != e.cpuWant {
		return fmt.Errorf("cpu_work(%d) = %d, want %d", cpuSteps, got, e.cpuWant)
	}
	return nil
}
