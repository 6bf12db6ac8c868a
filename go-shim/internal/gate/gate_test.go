package gate

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestOneHolderAtATime(t *testing.T) {
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
	if got := maxInside.Load(); got != 1 {
		t.Fatalf("%d holders at once, want 1", got)
	}
}

// A holder that waits on another caller (or re-enters) must not deadlock:
// the watchdog opens the gate after HoldLimit.
func TestLongHoldIsLetGo(t *testing.T) {
	var g Gate
	first := g.Enter()
	done := make(chan time.Duration)
	go func() {
		start := time.Now()
		l := g.Enter() // the same goroutine could be here: re-entry
		g.Leave(l)
		done <- time.Since(start)
	}()
	select {
	case waited := <-done:
		if waited < HoldLimit {
			t.Fatalf("second caller got in after %v, before the hold limit %v", waited, HoldLimit)
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
