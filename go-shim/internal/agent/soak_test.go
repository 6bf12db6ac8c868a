package agent

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

var soak = flag.Duration("soak", 0, "run TestSoak for this long after its warm-up (make soak)")

// soakReport is what `make soak` writes to target/soak/results.json.
type soakReport struct {
	Instances       int     `json:"instances"`
	WindowSeconds   float64 `json:"window_seconds"`
	Runs            uint64  `json:"runs"`
	RunsPerSecond   float64 `json:"runs_per_second"`
	RSSStartBytes   float64 `json:"rss_start_bytes"`
	RSSEndBytes     float64 `json:"rss_end_bytes"`
	RSSGrowthBytes  float64 `json:"rss_growth_bytes"`
	ThreadsStart    int     `json:"threads_start"`
	ThreadsEnd      int     `json:"threads_end"`
	ThreadsMax      int     `json:"threads_max"`
	Skipped         uint64  `json:"skipped"`
	Errors          uint64  `json:"errors"`
	GoHeapEndBytes  uint64  `json:"go_heap_end_bytes"`
	GoroutinesStart int     `json:"goroutines_start"`
	GoroutinesEnd   int     `json:"goroutines_end"`
}

func threads() int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(rest))
			return n
		}
	}
	return 0
}

// TestSoak runs 1,000 instances at a 1 s interval for -soak (make soak:
// 110 s, over 100,000 runs) after a warm-up, and holds the agent to a flat
// footprint: resident memory grows by less than 2 MB, the thread count stays
// flat, no tick is skipped and no run fails.
func TestSoak(t *testing.T) {
	if *soak == 0 {
		t.Skip("a long run: make soak")
	}
	var conf strings.Builder
	conf.WriteString("init_config:\ninstances:\n")
	for i := range benchInstances {
		fmt.Fprintf(&conf, "  - n: %d\n    min_collection_interval: 1\n", i)
	}
	cfg := layout(t, map[string]string{"trivial": trivialCheck}, map[string]string{"trivial.yaml": conf.String()})
	a, err := New(cfg, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	totals := func() (runs, skipped, errors uint64) {
		for _, s := range a.sched.Stats() {
			runs += s.Runs
			skipped += s.Skipped
			errors += s.Errors
		}
		return
	}
	// Warm-up: every instance has run, and the allocators have settled.
	time.Sleep(20 * time.Second)
	runtime.GC()
	rep := soakReport{Instances: benchInstances, RSSStartBytes: rss(), ThreadsStart: threads(),
		GoroutinesStart: runtime.NumGoroutine()}
	runs0, skipped0, errors0 := totals()
	begin := time.Now()
	for end := begin.Add(*soak); time.Now().Before(end); time.Sleep(time.Second) {
		rep.ThreadsMax = max(rep.ThreadsMax, threads())
	}
	runtime.GC()
	runs1, skipped1, errors1 := totals()
	rep.WindowSeconds = time.Since(begin).Seconds()
	rep.Runs, rep.Skipped, rep.Errors = runs1-runs0, skipped1-skipped0, errors1-errors0
	rep.RunsPerSecond = float64(rep.Runs) / rep.WindowSeconds
	rep.RSSEndBytes, rep.ThreadsEnd, rep.GoroutinesEnd = rss(), threads(), runtime.NumGoroutine()
	rep.RSSGrowthBytes = rep.RSSEndBytes - rep.RSSStartBytes
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rep.GoHeapEndBytes = ms.HeapAlloc
	if out := os.Getenv("PYHOST_SOAK_REPORT"); out != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		_ = os.MkdirAll(filepath.Dir(out), 0o755)
		if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
			t.Error(err)
		}
	}
	t.Logf("%+v", rep)
	if rep.Runs < uint64(rep.WindowSeconds*float64(benchInstances)*0.99) {
		t.Errorf("%d runs in %.0f s: fewer than the schedule's", rep.Runs, rep.WindowSeconds)
	}
	if rep.RSSGrowthBytes >= 2<<20 {
		t.Errorf("resident memory grew by %.1f MB after warm-up", rep.RSSGrowthBytes/(1<<20))
	}
	// Flat: Go's runtime may start a thread or two in a long run (it keeps
	// threads once made); growth with the runs (100,000 of them) would be a
	// leak.
	if rep.ThreadsEnd > rep.ThreadsStart+2 {
		t.Errorf("threads grew from %d to %d", rep.ThreadsStart, rep.ThreadsEnd)
	}
	if rep.Skipped != 0 || rep.Errors != 0 {
		t.Errorf("%d skipped ticks, %d failed runs", rep.Skipped, rep.Errors)
	}
}
