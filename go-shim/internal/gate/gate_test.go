package gate

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// One holder at a time, except after the watchdog let a hold go: a holder
// descheduled for over HoldLimit on a busy machine is let go by design, and
// only then may a second holder come in. Every overlap seen must be
// explained by a let-go: at most one more holder inside per let-go.
func TestOneHolderAtATimeUnlessLetGo(t *testing.T) {
	var g Gate
	var inside, maxInside atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2000 {
				l := g.Enter()
				n := inside.Add(1)
				// A let-go is counted before it lets anyone in: an overlap
				// seen now is explained by the count now.
				if letGo := g.LetGo(); uint64(n) > 1+letGo {
					t.Errorf("%d holders at once with %d let-go(s)", n, letGo)
				}
				for {
					m := maxInside.Load()
					if n <= m || maxInside.CompareAndSwap(m, n) {
						break
					}
				}
				inside.Add(-1)
				g.Leave(l)
			}
		}()
	}
	wg.Wait()
	letGo := g.LetGo()
	if got := uint64(maxInside.Load()); got > 1+letGo {
		t.Fatalf("%d holders at once with %d let-go(s): at most %d", got, letGo, 1+letGo)
	}
}

// A holder that waits on another caller (or re-enters) must not deadlock:
// the watchdog opens the gate after HoldLimit.
func TestLongHoldIsLetGo(t *testing.T) {
	var g Gate
	first := g.Enter()
	held := time.Now()
	done := make(chan time.Duration)
	go func() {
		l := g.Enter() // the same goroutine could be here: re-entry
		g.Leave(l)
		done <- time.Since(held)
	}()
	select {
	case waited := <-done:
		// The first hold lasted at least HoldLimit before it was let go.
		if waited < HoldLimit {
			t.Fatalf("second caller got in %v after the first hold began, before the hold limit %v", waited, HoldLimit)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second caller never got in: a long hold keeps the gate shut")
	}
	// The first holder's Leave after being let go must not unlock again
	// (sync.Mutex would fail fatally), and the gate keeps working.
	g.Leave(first)
	l := g.Enter()
	g.Leave(l)
}

func TestReentryFromTheSameGoroutine(t *testing.T) {
	var g Gate
	done := make(chan struct{})
	go func() {
		outer := g.Enter()
		inner := g.Enter()
		g.Leave(inner)
		g.Leave(outer)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("re-entry deadlocked")
	}
}

func TestWatchdogEndsWhenIdleAndComesBack(t *testing.T) {
	var g Gate
	l := g.Enter()
	g.Leave(l)
	deadline := time.Now().Add(5 * time.Second)
	for g.watching.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the watchdog still runs after the gate went idle")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A new long hold is watched again.
	first := g.Enter()
	got := make(chan struct{})
	go func() { g.Leave(g.Enter()); close(got) }()
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no watchdog after it had ended once")
	}
	g.Leave(first)
}

// Open lets a hold go at once, and the holder's Leave then leaves the gate
// to whoever entered next.
func TestOpenLetsTheHoldGo(t *testing.T) {
	var g Gate
	first := g.Enter()
	g.Open()
	opened := g.LetGo()
	if opened != 1 {
		t.Fatalf("LetGo after Open of a hold: %d, want 1 (the opened hold is still inside)", opened)
	}
	entered := make(chan Lease)
	go func() { entered <- g.Enter() }()
	var second Lease
	select {
	case second = <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("Open did not let the next caller in")
	}
	g.Leave(first) // stale: must not open the second hold
	third := make(chan Lease, 1)
	go func() { third <- g.Enter() }()
	var l Lease
	select {
	case l = <-third:
		// Only the watchdog may have let the second hold go.
		if g.LetGo() == opened {
			t.Fatal("a stale Leave opened another caller's hold")
		}
		g.Leave(second)
	case <-time.After(50 * time.Millisecond):
		g.Leave(second)
		l = <-third
	}
	g.Leave(l)
	g.Open() // nothing held: no effect
}

// Callers that park behind a hold are all woken in turn when holds end:
// a lost wake-up would leave one parked with the gate open and no one to
// wake it (the watchdog acts only on a hold).
func TestParkedCallersAreAllWoken(t *testing.T) {
	var g Gate
	for round := range 200 {
		first := g.Enter()
		var wg sync.WaitGroup
		var inside, maxInside atomic.Int32
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l := g.Enter()
				if n := inside.Add(1); n > maxInside.Load() {
					maxInside.Store(n)
				}
				time.Sleep(20 * time.Microsecond)
				inside.Add(-1)
				g.Leave(l)
			}()
		}
		time.Sleep(100 * time.Microsecond) // most of them spin out and park
		g.Leave(first)
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: a parked caller was never woken (state %#x)", round, g.state.Load())
		}
		if got, letGo := uint64(maxInside.Load()), g.LetGo(); got > 1+letGo {
			t.Fatalf("round %d: %d holders at once with %d let-go(s)", round, got, letGo)
		}
	}
	if s := g.state.Load(); s&held != 0 {
		t.Fatalf("the gate is still held after every caller left: %#x", s)
	}
}

// A caller woken only to find the gate taken again, over and over, goes
// in without it once it has waited HoldLimit, and is counted.
func TestACallerWaitsAtMostAboutTheHoldLimit(t *testing.T) {
	var g Gate
	stop := make(chan struct{})
	var hogs sync.WaitGroup
	for range 2 {
		hogs.Add(1)
		go func() { // short holds back to back: the gate is rarely open
			defer hogs.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				l := g.Enter()
				for i := 0; i < 2000; i++ {
					_ = i
				}
				g.Leave(l)
			}
		}()
	}
	var worst time.Duration
	for range 200 {
		start := time.Now()
		l := g.Enter()
		worst = max(worst, time.Since(start))
		g.Leave(l)
	}
	close(stop)
	hogs.Wait()
	// HoldLimit from its first park, plus a wake-up and scheduling on a
	// busy machine: far below a stuck caller's forever.
	if worst > time.Second {
		t.Fatalf("a caller waited %v for the gate", worst)
	}
}

// An adaptive gate admits every caller at once until the contention count
// moves; then it orders calls (holds again).
func TestAnAdaptiveGateEngagesOnceTheCountMoves(t *testing.T) {
	g := Gate{quietFor: 1 << 30} // no standing aside again in this test
	var count uint32
	g.Adaptive(&count)
	for range 1000 {
		if l := g.Enter(); l != 0 {
			t.Fatalf("a gate with no contention held a call: lease %#x", l)
		}
		g.Leave(0)
	}
	if g.Engaged() || g.watching.Load() {
		t.Fatal("an uncontended adaptive gate engaged, or started its watchdog")
	}
	atomic.AddUint32(&count, 1) // a call waited for the GIL
	g.Leave(g.Enter())
	if !g.Engaged() {
		t.Fatal("the gate did not engage once the contention count moved")
	}
	held := g.Enter()
	if held == 0 {
		t.Fatal("an engaged gate let a call in without a hold")
	}
	// A second caller waits until the hold is given back.
	got := make(chan Lease)
	go func() { got <- g.Enter() }()
	select {
	case l := <-got:
		// Only a hold let go (this test descheduled past HoldLimit) lets
		// a second caller in.
		if g.LetGo() == 0 {
			t.Fatalf("a second caller entered an engaged gate while it was held: lease %#x", l)
		}
		g.Leave(held)
		g.Leave(l)
	case <-time.After(HoldLimit / 4):
		g.Leave(held)
		g.Leave(<-got)
	}
}

// An engaged adaptive gate stands aside again once nothing contends for
// quietTicks watchdog periods, and engages again on the next contention.
func TestAnEngagedGateStandsAsideOnceQuiet(t *testing.T) {
	var g Gate
	var count uint32
	g.Adaptive(&count)
	for round := range 2 {
		atomic.AddUint32(&count, 1)
		g.Leave(g.Enter())
		if !g.Engaged() {
			t.Fatalf("round %d: the gate did not engage once the count moved", round)
		}
		deadline := time.Now().Add(10 * time.Second)
		for g.Engaged() {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the gate still orders calls 10 s after the last contention", round)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if l := g.Enter(); l != 0 {
			t.Fatalf("round %d: a gate standing aside again held a call: lease %#x", round, l)
		}
		g.Leave(0)
	}
}

// While callers find the gate shut, it stays engaged however long that
// lasts; quietTicks periods without, and it stands aside. (review is what
// the watchdog runs each period; called here directly, with no watchdog.)
func TestCrowdingKeepsAGateEngaged(t *testing.T) {
	var g Gate
	var count uint32
	g.Adaptive(&count)
	g.engaged.Store(true)
	quiet := 0
	for range 3 * quietTicks {
		g.crowded.Store(true) // a caller found the gate shut this period
		g.review(&quiet)
	}
	for range quietTicks / 2 {
		atomic.AddUint32(&count, 1) // the engine counted a contended call
		g.review(&quiet)
	}
	if !g.Engaged() {
		t.Fatal("a crowded or contended gate stood aside")
	}
	for range quietTicks - 1 {
		g.review(&quiet)
	}
	if !g.Engaged() {
		t.Fatal("the gate stood aside before quietTicks quiet periods")
	}
	g.review(&quiet)
	if g.Engaged() {
		t.Fatal("the gate still orders calls after quietTicks quiet periods")
	}
}

// A gate that is not adaptive (no count, or a nil one) always orders calls.
func TestAGateWithoutACountAlwaysOrders(t *testing.T) {
	var g Gate
	g.Adaptive(nil)
	if !g.Engaged() {
		t.Fatal("a gate with no contention count stands aside")
	}
	l := g.Enter()
	if l == 0 {
		t.Fatal("a plain gate let a call in without a hold")
	}
	g.Leave(l)
}
