package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pyhost.dev/pyhost/internal/agent/config"
	"pyhost.dev/pyhost/modules"
)

// The trivial check times its own body with the thread's CPU clock, so the
// benchmark can tell the checks' Python time from the agent's.
const trivialCheck = `
import time
from pyhost import AgentCheck

_spent = [0]

def spent_ns():
    return _spent[0]

class Trivial(AgentCheck):
    def check(self, instance):
        start = time.thread_time_ns()
        self.gauge("bench.trivial", instance["n"], tags=["bench:agent"])
        _spent[0] += time.thread_time_ns() - start
`

const (
	benchInstances = 1000
	benchWindow    = 10 * time.Second
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rss() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			return kb * 1024
		}
	}
	return 0
}

// agentFigures is what one agent measured over its window: the process's
// CPU time, the checks' own Python time (inside check()), runs and skipped
// runs per second, and the resident set at the end.
type agentFigures struct {
	Instances   int     `json:"instances"`
	IntervalS   float64 `json:"interval_s"`
	ProcessCPU  float64 `json:"process_cpu_ns_per_s"`
	ChecksCPU   float64 `json:"checks_cpu_ns_per_s"`
	OverheadCPU float64 `json:"overhead_cpu_ns_per_s"`
	RunsPerS    float64 `json:"runs_per_second"`
	Skipped     float64 `json:"skipped"`
	RSS         float64 `json:"rss_bytes"`
}

// measureAgent runs the real agent (scheduler, runners, aggregation, HTTP
// server idle) with n instances of the trivial check at interval, waits
// until every instance has run once, then measures for window (a whole
// number of intervals, for an even count of runs).
func measureAgent(tb testing.TB, n int, interval, window time.Duration) agentFigures {
	var conf strings.Builder
	conf.WriteString("init_config:\ninstances:\n")
	for i := range n {
		fmt.Fprintf(&conf, "  - n: %d\n    min_collection_interval: %g\n", i, interval.Seconds())
	}
	cfg := layout(tb, map[string]string{"trivial": trivialCheck}, map[string]string{"trivial.yaml": conf.String()})
	a, err := New(cfg, quietLogger())
	if err != nil {
		tb.Fatal(err)
	}
	if len(a.instances) != n {
		tb.Fatalf("%d instances loaded, problems: %v", len(a.instances), a.problems)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			tb.Error(err)
		}
	}()
	spent, err := a.rt.LoadFunction("trivial", "spent_ns")
	if err != nil {
		tb.Fatal(err)
	}
	defer spent.Close()
	checksNs := func() time.Duration {
		out, err := spent.Call(nil)
		if err != nil {
			tb.Fatal(err)
		}
		n, _ := strconv.ParseInt(string(out), 10, 64)
		return time.Duration(n)
	}
	runs := func() (total, ran uint64) {
		for _, s := range a.sched.Stats() {
			total += s.Runs
			if s.Runs > 0 {
				ran++
			}
		}
		return total, ran
	}
	// Warm up: every instance has run once (first runs come within
	// maxStartJitter of the start).
	for started := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		if _, ran := runs(); ran == uint64(n) {
			break
		}
		if time.Since(started) > time.Minute {
			_, ran := runs()
			tb.Fatalf("only %d of %d instances ran", ran, n)
		}
	}
	time.Sleep(time.Second)

	wall0, cpu0, py0 := time.Now(), cpuTime(), checksNs()
	runs0, _ := runs()
	time.Sleep(window)
	wall, cpu, py := time.Since(wall0), cpuTime()-cpu0, checksNs()-py0
	resident := rss() // before runs() copies every instance's statistics
	runs1, _ := runs()

	perSecond := func(d time.Duration) float64 { return float64(d) / wall.Seconds() }
	f := agentFigures{Instances: n, IntervalS: interval.Seconds(), ProcessCPU: perSecond(cpu), ChecksCPU: perSecond(py),
		OverheadCPU: perSecond(cpu - py), RunsPerS: float64(runs1-runs0) / wall.Seconds(), RSS: resident}
	for _, s := range a.sched.Stats() {
		f.Skipped += float64(s.Skipped)
	}
	return f
}

// BenchmarkAgent1000Checks runs 1,000 instances of a trivial check at a 1 s
// interval for a fixed window (whatever b.N is) and reports the process's CPU
// time beyond the checks' own Python time, per second of wall clock.
func BenchmarkAgent1000Checks(b *testing.B) {
	b.ResetTimer()
	f := measureAgent(b, benchInstances, time.Second, benchWindow)
	b.StopTimer()
	f.report(b)
}

// report reports the figures as the benchmark's metrics.
func (f agentFigures) report(b *testing.B) {
	b.ReportMetric(f.ProcessCPU, "process-cpu-ns/s")
	b.ReportMetric(f.ChecksCPU, "checks-cpu-ns/s")
	b.ReportMetric(f.OverheadCPU, "overhead-cpu-ns/s")
	b.ReportMetric(f.RunsPerS, "runs/s")
	b.ReportMetric(f.RSS, "rss-bytes")
	b.ReportMetric(f.Skipped, "skipped")
}

// scalingPoints are the agents BenchmarkAgentScaling measures: 1,000,
// 10,000 and 50,000 instances with intervals chosen for about 1,000 runs a
// second, and the same counts at the Datadog Agent's default interval.
var scalingPoints = []struct {
	series    string
	instances int
	interval  time.Duration
}{
	{"fixed_rate", 1000, time.Second},
	{"fixed_rate", 10000, 10 * time.Second},
	{"fixed_rate", 50000, 50 * time.Second},
	{"fixed_interval", 1000, 15 * time.Second},
	{"fixed_interval", 10000, 15 * time.Second},
	{"fixed_interval", 50000, 15 * time.Second},
}

// scalingReport is where BenchmarkAgentScaling writes its points (for
// bench/compare/plot.py); make bench sets it.
var scalingReport = flag.String("scaling-report", "", "write BenchmarkAgentScaling's points to this JSON file")

const scalingChildEnv = "PYHOST_BENCH_SCALING_CHILD"

// TestAgentScalingChild is not a test of its own: it is the child process
// BenchmarkAgentScaling runs for each point (skipped otherwise), so that
// each point's resident set is its own. It prints its figures as JSON.
func TestAgentScalingChild(t *testing.T) {
	spec := os.Getenv(scalingChildEnv)
	if spec == "" {
		t.Skip("a child process of BenchmarkAgentScaling")
	}
	count, every, _ := strings.Cut(spec, " ")
	n, err := strconv.Atoi(count)
	interval, err2 := time.ParseDuration(every)
	if err != nil || err2 != nil {
		t.Fatalf("%s=%q: want \"INSTANCES INTERVAL\"", scalingChildEnv, spec)
	}
	// Whole intervals: every instance runs as often in the window.
	window := interval * time.Duration(max(1, int64((benchWindow+interval-1)/interval)))
	f := measureAgent(t, n, interval, window)
	b, _ := json.Marshal(f)
	fmt.Printf("scaling-figures %s\n", b)
}

// scalingRounds is how often BenchmarkAgentScaling measures each point.
const scalingRounds = 3

// scalingChild runs one point's agent in a child process and returns its
// figures.
func scalingChild(instances int, interval time.Duration) (agentFigures, error) {
	cmd := exec.Command(os.Args[0], "-test.run", "^TestAgentScalingChild$", "-test.v", "-test.timeout", "10m")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d %v", scalingChildEnv, instances, interval))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return agentFigures{}, fmt.Errorf("child: %w\n%s", err, out)
	}
	_, rest, ok := strings.Cut(string(out), "scaling-figures ")
	var f agentFigures
	if !ok || json.Unmarshal([]byte(strings.SplitN(rest, "\n", 2)[0]), &f) != nil {
		return agentFigures{}, fmt.Errorf("child printed no figures:\n%s", out)
	}
	return f, nil
}

// medianFigures is each figure's median over a point's rounds.
func medianFigures(fs []agentFigures) agentFigures {
	med := func(get func(agentFigures) float64) float64 {
		vs := make([]float64, len(fs))
		for i, f := range fs {
			vs[i] = get(f)
		}
		slices.Sort(vs)
		if len(vs)%2 == 1 {
			return vs[len(vs)/2]
		}
		return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
	}
	m := fs[0]
	m.ProcessCPU = med(func(f agentFigures) float64 { return f.ProcessCPU })
	m.ChecksCPU = med(func(f agentFigures) float64 { return f.ChecksCPU })
	m.OverheadCPU = med(func(f agentFigures) float64 { return f.OverheadCPU })
	m.RunsPerS = med(func(f agentFigures) float64 { return f.RunsPerS })
	m.Skipped = med(func(f agentFigures) float64 { return f.Skipped })
	m.RSS = med(func(f agentFigures) float64 { return f.RSS })
	return m
}

// BenchmarkAgentScaling measures how the agent's cost grows with its
// instances: each point is an agent in a child process (whatever b.N is),
// reporting its CPU beyond the checks' own Python time and its resident
// set, each figure the median of scalingRounds rounds. Written to
// -scaling-report as well, with the memory per idle instance: the resident
// set's growth from 1,000 to more instances, per instance added.
func BenchmarkAgentScaling(b *testing.B) {
	type point struct {
		Series string `json:"series"`
		agentFigures
		OverheadShare float64 `json:"overhead_share_of_a_core"`
		OverheadRun   float64 `json:"overhead_ns_per_run"`
		RSSPer        float64 `json:"rss_per_instance_bytes"`
	}
	// Every point measured scalingRounds times, the points in turn each
	// round: a point's median is measured over minutes of the shared
	// machine's load, as is every other point's.
	rounds := make([][]agentFigures, len(scalingPoints))
	for range scalingRounds {
		for i, p := range scalingPoints {
			f, err := scalingChild(p.instances, p.interval)
			if err != nil {
				b.Fatal(err)
			}
			rounds[i] = append(rounds[i], f)
		}
	}
	var points []point
	base := map[string]agentFigures{}
	for i, p := range scalingPoints {
		f := medianFigures(rounds[i])
		b.Run(fmt.Sprintf("%s/instances=%d", p.series, p.instances), func(b *testing.B) {
			pt := point{Series: p.series, agentFigures: f, OverheadShare: f.OverheadCPU / 1e9}
			if f.RunsPerS > 0 {
				pt.OverheadRun = f.OverheadCPU / f.RunsPerS
			}
			if first, ok := base[p.series]; ok && f.Instances > first.Instances {
				pt.RSSPer = (f.RSS - first.RSS) / float64(f.Instances-first.Instances)
			} else {
				base[p.series] = f
			}
			points = append(points, pt)
			f.report(b)
			b.ReportMetric(pt.OverheadRun, "overhead-ns/run")
			b.ReportMetric(pt.RSSPer, "rss-bytes/instance")
		})
	}
	if *scalingReport != "" && len(points) == len(scalingPoints) {
		data, _ := json.MarshalIndent(map[string]any{"points": points}, "", "  ")
		if err := os.WriteFile(*scalingReport, append(data, '\n'), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

const echoModule = `
import pyhost

class Module(pyhost.Module):
    @pyhost.command
    def ping(self, n: int) -> int:
        """Returns n."""
        return n
`

// BenchmarkModuleCommandHTTP is a module command's round trip over the
// agent's HTTP API: POST /api/modules/echo/commands/ping with its token,
// arguments typed, the command run in Python, the JSON answer read.
func BenchmarkModuleCommandHTTP(b *testing.B) {
	cfg := layout(b, nil, nil)
	cfg.ModulesDir = filepath.Join(b.TempDir(), "modules.d")
	if err := os.MkdirAll(cfg.ModulesDir, 0o755); err != nil {
		b.Fatal(err)
	}
	write(b, filepath.Join(cfg.ModulesDir, "echo.py"), echoModule)
	cfg.Modules = []config.ModuleConfig{{Name: "echo"}}
	a, err := New(cfg, quietLogger())
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	// Commands answer 409 until the module has loaded.
	waitFor(b, a, "the module to run", func(st Status) bool {
		return len(st.Modules) == 1 && st.Modules[0].State == string(modules.Running)
	})
	benchPost(b, "http://"+a.Addr()+"/api/modules/echo/commands/ping", a.token)
}

// BenchmarkModuleCommandHTTPFloor is the same request to a Go handler that
// reads the arguments and answers as the agent's does, with no Python.
func BenchmarkModuleCommandHTTPFloor(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/modules/{module}/commands/{command}", func(w http.ResponseWriter, r *http.Request) {
		args, err := decodeArguments(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, "", err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"result": args["n"]})
	})
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	benchPost(b, "http://"+l.Addr().String()+"/api/modules/echo/commands/ping", "token")
}

func benchPost(b *testing.B, url, token string) {
	client := &http.Client{}
	post := func(i int) {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(fmt.Sprintf(`{"n": %d}`, i)))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var out struct {
			Result int `json:"result"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || out.Result != i {
			b.Fatalf("POST: %d %v %v", resp.StatusCode, err, out)
		}
	}
	post(-1) // the connection, kept alive from here on
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		post(i)
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}
