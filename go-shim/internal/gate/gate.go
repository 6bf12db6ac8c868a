// Package gate admits one short call into Python at a time from Go.
//
// Only one thread runs Python at a time (the GIL). When goroutines call in
// together, the losers would wait inside the cgo call, blocking their OS
// threads on CPython's GIL condition variable: every hand-over then costs a
// futex wake-up of several µs, the Python state moves between cores, and
// after 20 µs Go hands the blocked thread's P to another thread. Waiting
// here instead parks the goroutine in Go's scheduler, so the P runs other
// work, and a goroutine that just left can go again at once while its
// thread's caches are warm.
//
// The gate only orders calls; it is not needed for safety. So that a call
// that runs long, waits on another call, or re-enters from a host callback
// cannot hold others up, a call holding the gate for longer than HoldLimit
// is let go: the gate opens and the call goes on without it.
package gate

import (
	"sync"
	"sync/atomic"
	"time"
)

// HoldLimit is how long one call may keep the gate shut. Python's own
// thread switch interval is 5 ms; a call on the hot path takes ~100 ns.
const HoldLimit = time.Millisecond

// idleTicks is how many HoldLimit periods without a call end the watchdog.
const idleTicks = 100

// Gate admits one holder at a time. The zero value is open.
type Gate struct {
	mu sync.Mutex
	// seq is odd while a holder has the gate; every Enter and every release
	// (by Leave or by the watchdog) adds one, so a lease names one hold.
	seq      atomic.Uint64
	watching atomic.Bool
	// letGo counts holds the watchdog opened the gate on.
	letGo atomic.Uint64
}

// Lease is one hold of the gate, given back with Leave.
type Lease uint64

// Enter waits for the gate.
func (g *Gate) Enter() Lease {
	g.mu.Lock()
	lease := Lease(g.seq.Add(1))
	if !g.watching.Load() && g.watching.CompareAndSwap(false, true) {
		go g.watch()
	}
	return lease
}

// Leave gives the gate back, unless the watchdog has already opened it.
func (g *Gate) Leave(l Lease) {
	if g.seq.CompareAndSwap(uint64(l), uint64(l)+1) {
		g.mu.Unlock()
	}
}

// Open lets the current hold go, if there is one. A host function Python
// calls runs with the GIL released: whichever call holds the gate is then
// out of Python (most likely it is the call that called out), so keeping
// the others waiting would only delay them, or deadlock a host function
// that calls into Python again.
func (g *Gate) Open() {
	cur := g.seq.Load()
	if cur%2 == 1 && g.seq.CompareAndSwap(cur, cur+1) {
		g.mu.Unlock()
	}
}

// LetGo is how many holds the watchdog has opened the gate on: only then
// may two holders be inside at once.
func (g *Gate) LetGo() uint64 { return g.letGo.Load() }

// watch opens the gate when one hold has lasted a whole HoldLimit period,
// and ends after idleTicks periods with no new hold.
func (g *Gate) watch() {
	last := g.seq.Load()
	idle := 0
	for {
		time.Sleep(HoldLimit)
		cur := g.seq.Load()
		switch {
		case cur != last:
			idle = 0
		case cur%2 == 1:
			// The same hold for a whole period: let the others in. A
			// sync.Mutex may be unlocked by another goroutine.
			if g.seq.CompareAndSwap(cur, cur+1) {
				g.letGo.Add(1)
				g.mu.Unlock()
			}
		default:
			idle++
		}
		last = g.seq.Load()
		if idle >= idleTicks {
			g.watching.Store(false)
			// An Enter that saw watching still true relies on this
			// goroutine: keep going if one came in meanwhile.
			if g.seq.Load() == last || !g.watching.CompareAndSwap(false, true) {
				return
			}
			idle = 0
		}
	}
}
