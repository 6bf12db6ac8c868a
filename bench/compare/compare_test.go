package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	envOnce sync.Once
	testEnv *env
	envErr  error
)

func sharedEnv(t *testing.T) *env {
	t.Helper()
	envOnce.Do(func() { testEnv, envErr = newEnv(defaultPython(), here()) })
	if envErr != nil {
		t.Fatal(envErr)
	}
	return testEnv
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testEnv != nil {
		testEnv.close()
	}
	os.Exit(code)
}

// Every op checks what it got back (see ways.go): each way is seen to do
// the whole work, with the same inputs and the same answer.
func TestEveryWayDoesEveryWorkload(t *testing.T) {
	e := sharedEnv(t)
	for _, w := range workloads {
		for _, way := range ways {
			o, release, err := e.newOp(w.name, way)
			if err != nil {
				t.Fatalf("%s, %s: %v", w.name, way, err)
			}
			if err := o(); err != nil {
				t.Errorf("%s, %s: %v", w.name, way, err)
			}
			release()
		}
	}
}

func TestPythonCallingGoReachesGoEveryTime(t *testing.T) {
	e := sharedEnv(t)
	for _, way := range []string{wayPyhost, wayRPC} {
		o, release, err := e.newOp("python_to_go", way)
		if err != nil {
			t.Fatal(err)
		}
		before := e.goCalled.Load()
		if err := o(); err != nil {
			t.Fatal(err)
		}
		release()
		if got := e.goCalled.Load() - before; got != goLoopCalls {
			t.Errorf("%s: Go was called %d times, want %d", way, got, goLoopCalls)
		}
	}
}

func TestMeasureGivesEveryWayItsMedian(t *testing.T) {
	e := sharedEnv(t)
	w := workload{name: "call_add", unit: "call", ops: map[string]int{wayGo: 1000, wayPyhost: 200, wayRPC: 16}}
	samples, err := e.measure(w, 8, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != len(ways) {
		t.Fatalf("%d samples, want %d", len(samples), len(ways))
	}
	for i, s := range samples {
		if s.Way != ways[i] || s.Callers != 8 || len(s.Reps) != 3 || s.NsPerOp <= 0 {
			t.Errorf("sample %+v", s)
		}
		if want := (w.ops[s.Way] / 8) * 8; s.Ops != want {
			t.Errorf("%s: %d ops, want %d", s.Way, s.Ops, want)
		}
		if s.LatencyNs < s.NsPerOp*7.99 || s.LatencyNs > s.NsPerOp*8.01 {
			t.Errorf("%s: latency %.0f ns with 8 callers, ns per op %.0f: want 8×", s.Way, s.LatencyNs, s.NsPerOp)
		}
	}
	if samples[2].NsPerOp < samples[1].NsPerOp {
		t.Errorf("an RPC call (%.0f ns) measured cheaper than an embedded one (%.0f ns)", samples[2].NsPerOp, samples[1].NsPerOp)
	}
}

func TestWorkerErrorsComeBackAsErrors(t *testing.T) {
	e := sharedEnv(t)
	c, err := e.worker.dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if err := c.call(nil, nil, "no_such_method"); err == nil || !strings.Contains(err.Error(), "KeyError") {
		t.Errorf("unknown method: %v", err)
	}
	if err := c.call(nil, nil, "add", 1); err == nil || !strings.Contains(err.Error(), "TypeError") {
		t.Errorf("wrong arguments: %v", err)
	}
	var v int64
	if err := c.call(&v, nil, "add", 40, 2); err != nil || v != 42 {
		t.Errorf("the connection after two errors: add(40, 2) = %d, %v", v, err)
	}
}

func TestAWorkerThatDiesIsAnErrorNotAHang(t *testing.T) {
	w, err := startWorker(defaultPython(), here())
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	c, err := w.dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if err := c.call(nil, nil, "noop"); err != nil {
		t.Fatal(err)
	}
	_ = w.cmd.Process.Kill()
	_ = w.cmd.Wait()
	if err := c.call(nil, nil, "noop"); err == nil {
		t.Error("a call to a dead worker succeeded")
	}
}

func TestGoalRows(t *testing.T) {
	samples := []sample{
		{Workload: "call_noop", Way: wayRPC, Callers: 1, NsPerOp: 40_000},
		{Workload: "call_noop", Way: wayPyhost, Callers: 1, NsPerOp: 1_000},
		{Workload: "io_bound", Way: wayPyhost, Callers: 64, WallNs: 70e6},
	}
	rows := goalRows(samples, &cpuPair{ns1: 2e6, ns8: 2.1e6, ratio: 1.05})
	want := map[string]struct {
		ratio float64
		met   bool
	}{
		"compare_call_noop_rpc_over_embedded": {40, false},
		"compare_io_bound_64_callers":         {1.4, false},
		"compare_cpu_bound_8_callers":         {1.05, true},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows: %+v", len(rows), rows)
	}
	for _, r := range rows {
		w, ok := want[r.Name]
		if !ok || r.Met != w.met || r.Ratio < w.ratio-1e-9 || r.Ratio > w.ratio+1e-9 {
			t.Errorf("%s: ratio %v met %v, want %v %v", r.Name, r.Ratio, r.Met, w.ratio, w.met)
		}
	}
}

// plot.py draws a PNG per workload and the overview from a report.
func TestPlotDrawsEveryWorkload(t *testing.T) {
	var rep report
	rep.Machine = machine{Cores: 2, CPU: "test", Python: "3.11", Go: "go", Rust: "rustc"}
	for _, w := range workloads {
		rep.Workloads = append(rep.Workloads, titled{w.name, w.title, w.unit})
		for _, callers := range w.callers {
			for i, way := range ways {
				ns := float64((i + 1) * 1000 * callers)
				rep.Samples = append(rep.Samples, sample{Workload: w.name, Way: way, Callers: callers, NsPerOp: ns, LatencyNs: ns * float64(callers)})
			}
		}
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "compare.json")
	b, _ := json.Marshal(rep)
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "plots")
	cmd := exec.Command(defaultPython(), filepath.Join(here(), "plot.py"), in, out, filepath.Join(dir, "no-scaling.json"))
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("plot.py: %v\n%s", err, msg)
	}
	for _, w := range append(rep.Workloads, titled{Name: "overview"}) {
		png, err := os.ReadFile(filepath.Join(out, w.Name+".png"))
		if err != nil {
			t.Error(err)
			continue
		}
		if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 10_000 {
			t.Errorf("%s.png: %d bytes, not a drawn PNG", w.Name, len(png))
		}
	}
}
