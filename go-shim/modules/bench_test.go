package modules

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"pyhost.dev/pyhost"
)

// Modules of the benchmarks: nine that read what was published, one stuck
// in notify() for the whole benchmark, and one that tells Go when it was
// notified (through benchsink, a module of Go functions).
var benchSources = map[string]string{
	"reader.py": `
import pyhost

class Module(pyhost.Module):
    NOTIFY_TYPES = ["bench.state"]

    def notify(self, kind, key):
        self.get(kind)
`,
	"stuck.py": `
import pyhost

class Module(pyhost.Module):
    NOTIFY_TYPES = ["bench.state"]

    def notify(self, kind, key):
        self.wait_for_shutdown()
`,
	"pinger.py": `
import pyhost
import benchsink

class Module(pyhost.Module):
    NOTIFY_TYPES = ["bench.ping"]

    def notify(self, kind, key):
        benchsink.notified(self.get(kind))

    @pyhost.command
    def echo(self, n: int) -> int:
        return n
`,
	"direct.py": `
import benchsink

def ping(n):
    benchsink.notified(n)
`,
}

var benchDir string // the latest benchHost's module directory

func benchHost(b *testing.B, names ...string) (*pyhost.Runtime, *Host, chan int64) {
	b.Helper()
	dir := b.TempDir()
	benchDir = dir
	for name, src := range benchSources {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	rt, err := pyhost.Start(pyhost.Options{Logger: quiet, PythonPath: []string{dir}})
	if err != nil {
		b.Fatal(err)
	}
	pings := make(chan int64, 1)
	if err := rt.DefineModule("benchsink", map[string]any{"notified": func(n int64) { pings <- n }}); err != nil {
		b.Fatal(err)
	}
	h, err := New(rt, Options{Dir: dir, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	reader, _ := os.ReadFile(filepath.Join(dir, "reader.py"))
	for _, name := range names {
		if name != "stuck" && name != "pinger" { // a reader, under a name of its own
			if err := os.WriteFile(filepath.Join(dir, name+".py"), reader, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := h.Start(name, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := h.Stop(ctx); err != nil {
			b.Error(err)
		}
		_ = rt.Close()
	})
	return rt, h, pings
}

// reportLatencies reports the median and 99th percentile of per-op times.
func reportLatencies(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkPublish10ModulesOneStuck: the publisher's cost per Publish of a
// small value with ten modules notified of it, one of them stuck in
// notify() all along (its backlog coalesces).
func BenchmarkPublish10ModulesOneStuck(b *testing.B) {
	names := []string{"stuck"}
	for i := range 9 {
		names = append(names, fmt.Sprint("reader", i))
	}
	rt, h, _ := benchHost(b, names...)
	value := map[string]any{"hosts": 3, "healthy": true}
	if err := rt.Publish("bench.state", value); err != nil {
		b.Fatal(err)
	}
	waitStuck(b, h)
	benchPublish(b, rt, value)
	if st := h.Module("stuck").Status(); st.Backlog != 1 {
		b.Fatalf("the stuck module's backlog: %d", st.Backlog)
	}
}

// BenchmarkPublish10ModulesOneStuckFloor: the same Publish with no module.
func BenchmarkPublish10ModulesOneStuckFloor(b *testing.B) {
	rt, _, _ := benchHost(b)
	benchPublish(b, rt, map[string]any{"hosts": 3, "healthy": true})
}

func waitStuck(b *testing.B, h *Host) {
	for deadline := time.Now().Add(30 * time.Second); h.Module("stuck").Status().Backlog != 0 ||
		h.Module("stuck").Status().Notifications == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("the stuck module never got its notification: %+v", h.Module("stuck").Status())
		}
	}
}

func benchPublish(b *testing.B, rt *pyhost.Runtime, value any) {
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if err := rt.Publish("bench.state", value); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportLatencies(b, lat)
}

// BenchmarkPublishToNotify: from Publish to the module's notify() running
// and reading the value (it calls a Go function with it), per publication.
func BenchmarkPublishToNotify(b *testing.B) {
	rt, _, pings := benchHost(b, "pinger")
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		if err := rt.Publish("bench.ping", i); err != nil {
			b.Fatal(err)
		}
		if got := <-pings; got != int64(i) {
			b.Fatalf("notified of %d, published %d", got, i)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportLatencies(b, lat)
}

// BenchmarkPublishToNotifyFloor: the crossings alone: Go calls a Python
// function that calls the same Go function, the value handed back.
func BenchmarkPublishToNotifyFloor(b *testing.B) {
	rt, _, pings := benchHost(b)
	fn, err := rt.LoadFunction(filepath.Join(benchDir, "direct.py"), "ping")
	if err != nil {
		b.Fatal(err)
	}
	defer fn.Close()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		if _, err := fn.Invoke(i); err != nil {
			b.Fatal(err)
		}
		if got := <-pings; got != int64(i) {
			b.Fatalf("got %d, want %d", got, i)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportLatencies(b, lat)
}

// BenchmarkCommand is a command called from Go directly (no HTTP):
// arguments checked and typed from the hints, the method run, the result
// back as a typed value.
func BenchmarkCommand(b *testing.B) {
	_, h, _ := benchHost(b, "pinger")
	m := h.Module("pinger")
	ctx := context.Background()
	args := map[string]any{"n": 1}
	b.ResetTimer()
	for range b.N {
		if _, err := m.Command(ctx, "echo", args); err != nil {
			b.Fatal(err)
		}
	}
}
