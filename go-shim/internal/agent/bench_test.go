package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pyhost.dev/pyhost/internal/agent/config"
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

// BenchmarkAgent1000Checks runs 1,000 instances of a trivial check at a 1 s
// interval for a fixed window (whatever b.N is) and reports the process's CPU
// time beyond the checks' own Python time, per second of wall clock.
func BenchmarkAgent1000Checks(b *testing.B) {
	var conf strings.Builder
	conf.WriteString("init_config:\ninstances:\n")
	for i := range benchInstances {
		fmt.Fprintf(&conf, "  - n: %d\n    min_collection_interval: 1\n", i)
	}
	cfg := layout(b, map[string]string{"trivial": trivialCheck}, map[string]string{"trivial.yaml": conf.String()})
	a, err := New(cfg, quietLogger())
	if err != nil {
		b.Fatal(err)
	}
	if len(a.instances) != benchInstances {
		b.Fatalf("%d instances loaded, problems: %v", len(a.instances), a.problems)
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
	spent, err := a.rt.LoadFunction("trivial", "spent_ns")
	if err != nil {
		b.Fatal(err)
	}
	defer spent.Close()
	checksNs := func() time.Duration {
		out, err := spent.Call(nil)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := strconv.ParseInt(string(out), 10, 64)
		return time.Duration(n)
	}
	runs := func() (n uint64) {
		for _, s := range a.sched.Stats() {
			n += s.Runs
		}
		return n
	}
	// Warm up: every instance has run, then one more second.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ran := 0
		for _, s := range a.sched.Stats() {
			if s.Runs > 0 {
				ran++
			}
		}
		if ran == benchInstances {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d instances ran", ran, benchInstances)
		}
	}
	time.Sleep(time.Second)

	b.ResetTimer()
	wall0, cpu0, py0, runs0 := time.Now(), cpuTime(), checksNs(), runs()
	time.Sleep(benchWindow)
	wall, cpu, py, ran := time.Since(wall0), cpuTime()-cpu0, checksNs()-py0, runs()-runs0
	b.StopTimer()

	perSecond := func(d time.Duration) float64 { return float64(d) / wall.Seconds() }
	b.ReportMetric(perSecond(cpu), "process-cpu-ns/s")
	b.ReportMetric(perSecond(py), "checks-cpu-ns/s")
	b.ReportMetric(perSecond(cpu-py), "overhead-cpu-ns/s")
	b.ReportMetric(float64(ran)/wall.Seconds(), "runs/s")
	b.ReportMetric(rss(), "rss-bytes")
	var skipped uint64
	for _, s := range a.sched.Stats() {
		skipped += s.Skipped
	}
	b.ReportMetric(float64(skipped), "skipped")
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
