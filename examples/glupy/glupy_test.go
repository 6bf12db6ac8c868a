package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"example.com/glupy/lookup"
	"pyhost.dev/pyhost"
)

var (
	rtOnce sync.Once
	testRT *pyhost.Runtime
)

func runtimeFor(tb testing.TB) *pyhost.Runtime {
	rtOnce.Do(func() {
		var err error
		if testRT, err = pyhost.Start(pyhost.Options{}); err != nil {
			tb.Fatal(err)
		}
	})
	if testRT == nil {
		tb.Fatal("no runtime")
	}
	return testRT
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testRT != nil {
		_ = testRT.Close()
	}
	os.Exit(code)
}

// withCache installs the cache's hooks, empty, and removes them after.
func withCache(tb testing.TB) *pyhost.Runtime {
	rt := runtimeFor(tb)
	if err := resetCache(rt, besideSource("negative_cache.py")); err != nil {
		tb.Fatal(err)
	}
	if _, err := rt.LoadHooks(besideSource("negative_cache.py")); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		rt.Hooks("lookup").Remove()
		rt.Hooks("create").Remove()
	})
	return rt
}

// The cache never reports absent a file that exists: random sequences of
// creates and lookups give, with the cache, exactly what the file system
// says without it.
func TestTheCacheNeverHidesAFile(t *testing.T) {
	rt := withCache(t)
	ctx := context.Background()
	for seed := uint64(1); seed <= 20; seed++ {
		dirs, err := lookup.IncludeDirs(t.TempDir(), 4)
		if err != nil {
			t.Fatal(err)
		}
		svc := lookup.NewService(rt, dirs, 0)
		r := rand.New(rand.NewPCG(seed, 7))
		homes := map[string]int{} // where each name first exists
		for step := range 300 {
			name := fmt.Sprintf("f%d.php", r.IntN(12))
			if r.IntN(4) == 0 {
				dir := r.IntN(len(dirs))
				if err := svc.Create(ctx, dir, name); err != nil {
					t.Fatal(err)
				}
				if h, ok := homes[name]; !ok || dir < h {
					homes[name] = dir
				}
				continue
			}
			got, err := svc.Lookup(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			want, ok := homes[name]
			if !ok {
				want = -1
			}
			if got != want {
				t.Fatalf("seed %d step %d: Lookup(%s) = %d, the file system says %d", seed, step, name, got, want)
			}
		}
	}
	if st := rt.Hooks("lookup").Stats(); st.Answered == 0 || st.Errors != 0 {
		t.Fatalf("the cache did not answer, or failed: %+v", st)
	}
}

// A file created after a cached miss is found, and the miss was cached.
func TestAFileCreatedAfterAMissIsFound(t *testing.T) {
	rt := withCache(t)
	ctx := context.Background()
	dirs, err := lookup.IncludeDirs(t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	svc := lookup.NewService(rt, dirs, 0)
	for range 2 {
		if got, _ := svc.Lookup(ctx, "late.php"); got != -1 {
			t.Fatalf("found a file not created: %d", got)
		}
	}
	if svc.Probes != 3 {
		t.Fatalf("%d probes for two lookups of a missing file: the second should be cached", svc.Probes)
	}
	if err := svc.Create(ctx, 1, "late.php"); err != nil {
		t.Fatal(err)
	}
	if got, _ := svc.Lookup(ctx, "late.php"); got != 1 {
		t.Fatalf("after create: %d", got)
	}
}

// The workload finds every file where it lives, with and without the cache.
func TestTheWorkloadRunsBothWays(t *testing.T) {
	rt := runtimeFor(t)
	dirs, _ := lookup.IncludeDirs(t.TempDir(), 10)
	w, err := lookup.NewWorkload(dirs, 50, 1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	svc := lookup.NewService(rt, dirs, 0)
	if _, err := w.Run(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	vanilla := svc.Probes
	withCache(t)
	svc.Probes = 0
	if _, err := w.Run(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	if svc.Probes*3 > vanilla {
		t.Fatalf("the cache saved too little: %d probes, %d without", svc.Probes, vanilla)
	}
}

func benchWorkload(b *testing.B, cached bool) {
	rt := runtimeFor(b)
	dirs, err := lookup.IncludeDirs(b.TempDir(), 10)
	if err != nil {
		b.Fatal(err)
	}
	w, err := lookup.NewWorkload(dirs, 50, 1000, 1)
	if err != nil {
		b.Fatal(err)
	}
	if cached {
		withCache(b)
	}
	delay := 50 * time.Microsecond // as the demo's default
	svc := lookup.NewService(rt, dirs, delay)
	ctx := context.Background()
	probes := 0
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		if err := resetCache(rt, besideSource("negative_cache.py")); err != nil {
			b.Fatal(err)
		}
		svc.Probes = 0
		b.StartTimer()
		if _, err := w.Run(ctx, svc); err != nil {
			b.Fatal(err)
		}
		probes = svc.Probes
	}
	b.StopTimer()
	b.ReportMetric(float64(probes), "probes")
	// One simulated lookup probe: the round trip plus the stat.
	start := time.Now()
	for range 1000 {
		lookup.RoundTrip(delay)
		_, _ = os.Stat(filepath.Join(dirs[0], "lib", "absent.php"))
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/1000, "probe-ns")
}

// BenchmarkGlupyIncludeWorkloadVanilla: the workload (1,000 lookups) with no hook.
func BenchmarkGlupyIncludeWorkloadVanilla(b *testing.B) { benchWorkload(b, false) }

// BenchmarkGlupyIncludeWorkloadCached: the same with the negative-lookup
// cache, from empty each time.
func BenchmarkGlupyIncludeWorkloadCached(b *testing.B) { benchWorkload(b, true) }
