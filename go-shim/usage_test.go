package pyhost

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

const mib = 1 << 20

func runN(t *testing.T, chk *Check, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := chk.Run(context.Background()); err != nil {
			t.Fatalf("run %d of %s: %v", i, chk.ID(), err)
		}
	}
}

func TestUsageNamesTheCheckThatKeepsMemory(t *testing.T) {
	rt, _ := startRuntime(t)
	class, err := rt.LoadCheckClass(testdata("checks", "usage_leak.py"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer class.Close()
	newCheck := func(instance map[string]any) *Check {
		chk, err := class.NewCheck("usage_leak", nil, instance)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = chk.Close() })
		return chk
	}
	leaker := newCheck(map[string]any{"keep_bytes": mib})
	healthy := make([]*Check, 50)
	for i := range healthy {
		healthy[i] = newCheck(map[string]any{"keep_bytes": 0, "n": i})
	}
	// A first run of each: what a run keeps for good (interned strings,
	// caches) is kept by then.
	runN(t, leaker, 1)
	for _, chk := range healthy {
		runN(t, chk, 1)
	}
	leakedFrom, healthyFrom := leaker.Stats().Retained, make([]uint64, len(healthy))
	for i, chk := range healthy {
		healthyFrom[i] = chk.Stats().Retained
	}
	const runs = 5
	for r := 0; r < runs; r++ {
		runN(t, leaker, 1)
		for _, chk := range healthy {
			runN(t, chk, 1)
		}
	}
	st := leaker.Stats()
	if !st.Last.Memory {
		t.Fatalf("memory not counted: %+v", st)
	}
	grown := float64(st.Retained-leakedFrom) / runs
	t.Logf("leaking check: %.0f bytes more retained per run; a run allocates %d bytes; healthy check 0 retains %d", grown, st.Last.Allocated, healthy[0].Stats().Retained)
	if grown < 0.95*mib || grown > 1.1*mib {
		t.Errorf("the leaking check's retained memory grew %.0f bytes per run, want about 1 MiB (%+v)", grown, st)
	}
	// Every run churned 10,000 strings and freed them: allocated counts
	// them, retained does not.
	if st.Last.Allocated < mib+10_000*40 {
		t.Errorf("a run allocated %d bytes, want more than the 1 MiB kept plus the churn", st.Last.Allocated)
	}
	for i, chk := range healthy {
		s := chk.Stats()
		if s.Retained > healthyFrom[i]+16<<10 {
			t.Errorf("healthy check %d: retained %d -> %d bytes over %d runs, want flat", i, healthyFrom[i], s.Retained, runs)
		}
		if s.Retained >= st.Retained/10 {
			t.Errorf("healthy check %d retains %d bytes, the leaking one %d", i, s.Retained, st.Retained)
		}
		if s.Allocated < runs*10_000*40 {
			t.Errorf("healthy check %d allocated %d bytes over %d runs, want its churn counted", i, s.Allocated, s.Runs)
		}
	}
	// The kept memory is the check's until it is freed, whoever frees it.
	if err := leaker.Close(); err != nil {
		t.Fatal(err)
	}
	if got := leaker.Stats(); got.Retained != st.Retained || got.Runs != runs+1 {
		t.Errorf("stats changed after Close: %+v, were %+v", got, st)
	}
}

func TestUsageCPUTellsBurningFromSleeping(t *testing.T) {
	rt, _ := startRuntime(t)
	burner := loadCheck(t, rt, "spin.py", map[string]any{"seconds": 0.2})
	sleeper := loadCheck(t, rt, "usage_sleep.py", map[string]any{"seconds": 0.2})
	runN(t, burner, 2)
	runN(t, sleeper, 2)
	b, s := burner.Stats(), sleeper.Stats()
	t.Logf("burner: CPU %v of %v; sleeper: CPU %v of %v", b.CPU, b.Wall, s.CPU, s.Wall)
	if !b.Last.CPUExact || !s.Last.CPUExact {
		t.Fatalf("runs of 200 ms must read the CPU clock: burner %+v, sleeper %+v", b.Last, s.Last)
	}
	// A computing run is on a CPU for much of its wall time (all of it on an
	// idle machine; less when others compete for the cores), a sleeping one
	// for almost none of it.
	if b.CPU < b.Wall/4 || b.CPU > b.Wall+10*time.Millisecond {
		t.Errorf("burner: CPU %v over a wall time of %v", b.CPU, b.Wall)
	}
	if s.CPU > 20*time.Millisecond || s.Wall < 400*time.Millisecond {
		t.Errorf("sleeper: CPU %v over a wall time of %v, want almost none", s.CPU, s.Wall)
	}
	if b.CPU < 10*s.CPU {
		t.Errorf("burner CPU %v, sleeper CPU %v", b.CPU, s.CPU)
	}
}

func TestUsageShortRunsEstimateCPUAndReadItNowAndThen(t *testing.T) {
	rt, _ := startRuntime(t)
	chk := loadCheck(t, rt, "trivial.py", nil)
	const runs = 260
	exact := 0
	for i := 0; i < runs; i++ {
		res, err := chk.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		u := res.Usage
		if !u.Measured || u.CPU <= 0 || u.CPU > res.Duration {
			t.Fatalf("run %d: usage %+v, duration %v", i, u, res.Duration)
		}
		if u.CPUExact {
			exact++
		}
	}
	// The first run reads the clock (nothing is known of the check yet),
	// then one run in 128, unless the machine made a run slow enough to
	// read it on the next.
	t.Logf("%d of %d trivial runs read the CPU clock", exact, runs)
	if exact < 3 || exact > runs/2 {
		t.Errorf("%d of %d trivial runs read the CPU clock, want the first and about one in 128", exact, runs)
	}
}

// computeBeside runs a check that computes, holding the GIL, for 1.5 s,
// and returns once it computes; the returned func waits for its end.
func computeBeside(t *testing.T, rt *Runtime, logs *testLogs) func() {
	t.Helper()
	hog := loadCheck(t, rt, "slow.py", map[string]any{"seconds": 1.5})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := hog.Run(context.Background()); err != nil {
			t.Errorf("hog: %v", err)
		}
	}()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		if _, ok := logs.find("slow check started"); ok {
			break // the hog computes, holding the GIL, from here on
		}
		if time.Now().After(deadline) {
			t.Fatal("the computing check did not start")
		}
	}
	return wg.Wait
}

func TestUsageShowsAGILStarvedCheckWaiting(t *testing.T) {
	rt, logs := startRuntime(t)
	victim := loadCheck(t, rt, "trivial.py", nil)
	runN(t, victim, 1)
	hogDone := computeBeside(t, rt, logs)
	before := victim.Stats().GILWait
	for i := 0; i < 5; i++ {
		// Spaced out, so that the hog has the GIL back each time: a run
		// that follows another at once can find the GIL free.
		time.Sleep(20 * time.Millisecond)
		runN(t, victim, 1)
	}
	waited := victim.Stats().GILWait - before
	t.Logf("5 runs beside a computing check waited %v for the GIL", waited)
	hogDone()
	// Each run waits for the hog to be made to drop the GIL, which takes
	// CPython's switch interval (5 ms).
	if waited < 5*time.Millisecond {
		t.Errorf("5 runs beside a computing check waited %v for the GIL in all, want several ms", waited)
	}
}

// A metered call times its GIL wait only when the GIL looked taken as it
// asked: this checks that such a call beside a computing one still shows it.
func TestMeterShowsAGILStarvedCallWaiting(t *testing.T) {
	rt, logs := startRuntime(t)
	m, fns := metered(t, rt, "keep")
	keep := fns[0]
	hogDone := computeBeside(t, rt, logs)
	for i := 0; i < 5; i++ {
		time.Sleep(20 * time.Millisecond) // the hog has the GIL back each time
		if _, err := keep.Invoke(0); err != nil {
			t.Fatal(err)
		}
	}
	u, err := m.Usage()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("5 calls beside a computing check waited %v for the GIL (wall %v)", u.GILWait, u.Wall)
	hogDone()
	if u.Calls != 5 || u.GILWait < 5*time.Millisecond || u.GILWait > u.Wall {
		t.Errorf("5 metered calls beside a computing check: %+v, want several ms of GIL wait", u)
	}
}

func TestUsageSurvivesACancelledRun(t *testing.T) {
	rt, _ := startRuntime(t)
	chk := loadCheck(t, rt, "spin.py", map[string]any{"seconds": 30})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res, err := chk.Run(ctx)
	if !errors.Is(err, ErrCancelled) {
		t.Fatalf("Run: %v", err)
	}
	st := chk.Stats()
	if st.Runs != 1 || !res.Usage.Measured || st.CPU < 50*time.Millisecond || st.CPU > st.Wall+10*time.Millisecond {
		t.Errorf("a cancelled run's usage: %+v (stats %+v)", res.Usage, st)
	}
}

func TestUsageOffMeasuresNothing(t *testing.T) {
	rt, err := Start(Options{PythonPath: []string{testdata()}, DisableAccounting: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	chk := loadCheck(t, rt, "spin.py", map[string]any{"seconds": 0.05})
	res, err := chk.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Usage != (Usage{}) {
		t.Errorf("usage with accounting off: %+v", res.Usage)
	}
	if st := chk.Stats(); st.Runs != 1 || st.CPU != 0 || st.Wall <= 0 || st.Allocated != 0 {
		t.Errorf("stats with accounting off: %+v", st)
	}
}

// The allocator is chosen when Python starts: a process whose first runtime
// has accounting off counts no memory, even for a later runtime with it on.
func TestUsageMemoryIsNotCountedWhenTheFirstRuntimeHasAccountingOff(t *testing.T) {
	if os.Getenv("PYHOST_TEST_ACCOUNTING_CHILD") == "" {
		out, err := runSelf(t, t.Name(), "PYHOST_TEST_ACCOUNTING_CHILD=1")
		if err != nil || !strings.Contains(string(out), "PASS") {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return
	}
	off, err := Start(Options{PythonPath: []string{testdata()}, DisableAccounting: true})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	on, err := Start(Options{PythonPath: []string{testdata()}})
	if err != nil {
		t.Fatal(err)
	}
	defer on.Close()
	chk := loadCheck(t, on, "usage_leak.py", nil)
	res, err := chk.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if u := res.Usage; !u.Measured || u.Memory || u.Allocated != 0 || u.Retained != 0 || u.CPU <= 0 {
		t.Errorf("usage: %+v", u)
	}
}

// metered loads the named functions of testdata/metered.py under a new
// meter.
func metered(t *testing.T, rt *Runtime, names ...string) (*Meter, []*Function) {
	t.Helper()
	m, err := rt.NewMeter()
	if err != nil {
		t.Fatal(err)
	}
	var fns []*Function
	for _, name := range names {
		fn, err := rt.LoadFunction("metered", name)
		if err != nil {
			t.Fatal(err)
		}
		fn.SetMeter(m)
		fns = append(fns, fn)
	}
	return m, fns
}

func TestMeterCountsTypedCallsAndWhatTheyKeep(t *testing.T) {
	rt, _ := startRuntime(t)
	m, fns := metered(t, rt, "keep", "burn")
	keep, burn := fns[0], fns[1]
	for i := 0; i < 4; i++ {
		if _, err := keep.Invoke(256 << 10); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := burn.Invoke(0.1); err != nil {
		t.Fatal(err)
	}
	u, err := m.Usage()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("meter: %+v", u)
	if u.Calls != 5 || u.InFlight != 0 || !u.Memory {
		t.Errorf("usage: %+v", u)
	}
	if u.Retained < 4*256<<10 || u.Retained > 4*256<<10+64<<10 || u.Allocated < u.Retained {
		t.Errorf("4 calls each keeping 256 KiB: retained %d, allocated %d", u.Retained, u.Allocated)
	}
	if u.CPU < 25*time.Millisecond || u.CPU > u.Wall+5*time.Millisecond {
		t.Errorf("a call computing for 100 ms: CPU %v, wall %v", u.CPU, u.Wall)
	}
	// Not counted any more.
	keep.SetMeter(nil)
	if _, err := keep.Invoke(256 << 10); err != nil {
		t.Fatal(err)
	}
	// (It may free some of the meter's memory: the list grows into a new
	// buffer, which is no one's.)
	if v, _ := m.Usage(); v.Calls != 5 || v.Retained > u.Retained || v.Allocated != u.Allocated {
		t.Errorf("an unmetered call was counted: %+v", v)
	}
	// A call going on shows its CPU time so far.
	burn.SetMeter(m)
	done := make(chan struct{})
	go func() { defer close(done); _, _ = burn.Invoke(1.0) }()
	var during MeterUsage
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if during, _ = m.Usage(); during.InFlight == 1 && during.CPU > u.CPU+100*time.Millisecond {
			break
		}
	}
	<-done
	if during.InFlight != 1 || during.CPU <= u.CPU+100*time.Millisecond {
		t.Errorf("while a 1 s call ran: %+v (before it: CPU %v)", during, u.CPU)
	}
	// The figures stay readable after the runtime closed.
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	if after, err := m.Usage(); err != nil || after.Calls != 6 {
		t.Errorf("after Close: %+v, %v", after, err)
	}
	if _, err := rt.NewMeter(); !errors.Is(err, ErrShutdown) {
		t.Errorf("NewMeter after Close: %v", err)
	}
}

func TestMemoryOutsideRunsIsCountedApart(t *testing.T) {
	rt, _ := startRuntime(t)
	keep, err := rt.LoadFunction("metered", "keep")
	if err != nil {
		t.Fatal(err)
	}
	_, before, err := rt.UnattributedMemory()
	if err != nil {
		t.Fatal(err)
	}
	// An unmetered call: its memory is no plugin's.
	if _, err := keep.Invoke(512 << 10); err != nil {
		t.Fatal(err)
	}
	allocated, after, err := rt.UnattributedMemory()
	if err != nil {
		t.Fatal(err)
	}
	if after < before+512<<10 || allocated < after {
		t.Errorf("unattributed memory: retained %d -> %d, allocated %d", before, after, allocated)
	}
}

func TestHookPointUsageCountsItsHooks(t *testing.T) {
	rt, _ := startRuntime(t)
	remember, err := rt.LoadFunction("metered", "remember")
	if err != nil {
		t.Fatal(err)
	}
	hp := rt.Hooks("remembered")
	hp.SetDispatch(remember)
	op := func(_ context.Context, req any) (any, error) { return req, nil }
	for i := 0; i < 100; i++ {
		if _, err := hp.Call(context.Background(), "request", op); err != nil {
			t.Fatal(err)
		}
	}
	u := hp.Stats().Usage
	t.Logf("hook point: %+v", u)
	// Each call kept a 7,000-character str.
	if u.Calls != 100 || u.CPU <= 0 || u.Retained < 100*7000 || u.Allocated < u.Retained {
		t.Errorf("hook point usage: %+v", u)
	}
}
