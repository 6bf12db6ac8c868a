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
// cannot hold others up, a hold that lasts longer than HoldLimit is let
// go (the gate opens and the call goes on without it), and a caller that
// has waited HoldLimit goes in without the gate.
//
// The gate is one word: whether it is held, whether callers may be parked
// on it, and a count of holds, which names each hold so that a hold that
// was let go cannot open a later one. Entering and leaving when no one
// waits are one compare-and-swap each: the gate is on every call's path,
// and each atomic read-modify-write costs 5 to 10 ns of a 100 to 200 ns
// call.
//
// So an adaptive gate (see Adaptive) stands aside while calls do not
// contend: it then admits every caller at once, for a few plain loads on
// the way in and out, and engages (orders calls as above) once the engine
// counts a call that found the GIL held by another thread. It stands aside
// again after at least a tenth of a second (quietTicks watchdog periods) in
// which no caller found it shut and the engine counted none.
package gate

import (
	"sync/atomic"
	"time"
)

// HoldLimit is how long one call may keep the gate shut, and how long a
// caller waits for it. Python's own thread switch interval is 5 ms; a call
// on the hot path takes ~100 ns.
const HoldLimit = time.Millisecond

// idleTicks is how many HoldLimit periods without a call end the watchdog.
const idleTicks = 100

// quietTicks is how many HoldLimit periods without contention make an
// adaptive gate stand aside again.
const quietTicks = 100

// spins is how often a caller that finds the gate shut looks again before
// it parks: a hot-path hold lasts ~100 ns, a park and wake-up several µs.
const spins = 64

const (
	held    = 1 << 0 // a holder has the gate
	waiting = 1 << 1 // callers may be parked: the release wakes one
	oneHold = 1 << 2 // the hold count's unit
)

// Gate admits one holder at a time. The zero value is open.
//
// A caller parks only once the state it saw held has waiting set, and a
// release that clears waiting wakes one parked caller. That caller takes
// the gate with waiting set again (others may still be parked), parks
// again on a hold with waiting set, or, going in without the gate, passes
// the wake-up on: so while a caller is parked, the gate is held with
// waiting set, or a wake-up is on its way. A held gate always has a
// watchdog: every hold taken starts one if none runs, and the watchdog
// ends only while the gate is open.
type Gate struct {
	state atomic.Uint64
	// wake carries one wake-up to a parked caller (made on first need).
	wake     atomic.Pointer[chan struct{}]
	watching atomic.Bool
	// letGo counts holds let go and callers that went in without the gate
	// (see LetGo).
	letGo atomic.Uint64

	// An adaptive gate's contention count (nil: the gate always orders
	// calls), whether it orders them now, the count when it last looked,
	// and whether a caller has found it shut since the watchdog last looked.
	contention atomic.Pointer[uint32]
	engaged    atomic.Bool
	seen       atomic.Uint32
	crowded    atomic.Bool
	// quietFor overrides quietTicks when set before the gate is first used.
	quietFor int
}

// Lease is one hold of the gate, given back with Leave. The zero Lease
// holds nothing (a caller that went in without the gate).
type Lease uint64

// Adaptive makes the gate stand aside until calls contend. count is
// a count of calls that found the GIL held by another thread (the engine's,
// pyhost_gil_contention), valid for good and only read here: the gate
// engages once it moves. Nil, or a gate already adaptive, changes nothing.
func (g *Gate) Adaptive(count *uint32) {
	if count == nil || g.contention.Load() != nil {
		return
	}
	g.seen.Store(atomic.LoadUint32(count))
	g.contention.CompareAndSwap(nil, count)
}

// Engaged is whether the gate orders calls now: always, unless it is
// adaptive and calls do not contend.
func (g *Gate) Engaged() bool { return g.contention.Load() == nil || g.engaged.Load() }

// Engage makes an adaptive gate order calls now, as if they had contended:
// for a caller about to make calls it knows will meet. It stands aside
// again once they are quiet.
func (g *Gate) Engage() {
	if c := g.contention.Load(); c != nil {
		g.seen.Store(atomic.LoadUint32(c))
		g.engaged.Store(true)
		g.startWatch()
	}
}

// Enter waits for the gate: each hold it waits behind lasts two HoldLimit
// periods at most, and once woken after HoldLimit it goes in without it.
// A gate standing aside admits at once (a zero Lease).
func (g *Gate) Enter() Lease {
	if g.contention.Load() != nil && !g.engaged.Load() {
		return 0
	}
	if s := g.state.Load(); s&held == 0 {
		if l := (s + oneHold) | held; g.state.CompareAndSwap(s, l) {
			return g.took(l)
		}
	}
	return g.enterSlow()
}

// Leave gives the gate back, unless it has already been let go.
func (g *Gate) Leave(l Lease) {
	if l == 0 {
		g.noticeContention()
		return
	}
	if l&waiting == 0 && g.state.CompareAndSwap(uint64(l), uint64(l)&^held) {
		return
	}
	g.release(uint64(l), false)
}

// Open lets the current hold go, if there is one. A host function Python
// calls runs with the GIL released: whichever call holds the gate is then
// out of Python (most likely it is the call that called out), so keeping
// the others waiting would only delay them, or deadlock a host function
// that calls into Python again.
func (g *Gate) Open() {
	if s := g.state.Load(); s&held != 0 {
		g.release(s, true)
	}
}

// LetGo is how many holds were let go (by the watchdog, or by Open while
// their call was out in Go), plus how many callers went in without the
// gate: only then may two holders be inside at once. (Callers a gate
// standing aside admits hold nothing and are not counted: beside them,
// holders taken before it stood aside may still be inside.)
func (g *Gate) LetGo() uint64 { return g.letGo.Load() }

// noticeContention engages a gate standing aside once the contention count
// has moved: the call just made, or one beside it, waited for the GIL.
func (g *Gate) noticeContention() {
	if c := g.contention.Load(); c != nil && !g.engaged.Load() && atomic.LoadUint32(c) != g.seen.Load() {
		g.Engage() // its watchdog stands the gate aside again once quiet
	}
}

// review, each watchdog period, stands an engaged adaptive gate aside after
// quietTicks periods in which no caller found it shut and the contention
// count did not move. quiet counts those periods.
func (g *Gate) review(quiet *int) {
	c := g.contention.Load()
	if c == nil || !g.engaged.Load() {
		*quiet = 0
		return
	}
	if n := atomic.LoadUint32(c); g.crowded.Swap(false) || n != g.seen.Load() {
		g.seen.Store(n)
		*quiet = 0
		return
	}
	limit := quietTicks
	if g.quietFor > 0 {
		limit = g.quietFor
	}
	if *quiet++; *quiet >= limit {
		g.engaged.Store(false)
		*quiet = 0
	}
}

func (g *Gate) enterSlow() Lease {
	if !g.crowded.Load() {
		g.crowded.Store(true)
	}
	for range spins {
		if s := g.state.Load(); s&held == 0 {
			if l := (s + oneHold) | held; g.state.CompareAndSwap(s, l) {
				return g.took(l)
			}
		}
	}
	wake := g.wakeChan()
	var parkedAt time.Time
	for {
		s := g.state.Load()
		if s&held == 0 {
			l := (s + oneHold) | held
			if !parkedAt.IsZero() {
				l |= waiting // others may still be parked
			}
			if g.state.CompareAndSwap(s, l) {
				return g.took(l)
			}
			continue
		}
		if s&waiting == 0 && !g.state.CompareAndSwap(s, s|waiting) {
			continue
		}
		// The hold waited on is watched (see took): the watchdog lets it go
		// within two HoldLimit periods, and that release wakes a caller.
		if parkedAt.IsZero() {
			parkedAt = time.Now()
		} else if time.Since(parkedAt) >= HoldLimit {
			// Woken, and the gate taken again each time: go in without it
			// rather than wait longer, and pass the wake-up on to the next
			// parked caller.
			g.letGo.Add(1)
			g.signal(wake)
			return 0
		}
		<-wake
	}
}

// took is a hold just taken: the watchdog watches every hold.
func (g *Gate) took(l uint64) Lease {
	if !g.watching.Load() {
		g.startWatch()
	}
	return Lease(l)
}

// release opens the hold named by lease, if it still holds, and wakes a
// parked caller if one may be waiting. A let-go is counted before the gate
// opens, so that no one sees two holders inside and the count short.
func (g *Gate) release(lease uint64, letGo bool) {
	if letGo {
		g.letGo.Add(1)
	}
	for {
		s := g.state.Load()
		if s&held == 0 || s&^waiting != lease&^waiting {
			if letGo {
				g.letGo.Add(^uint64(0)) // let go already, or taken again since
			}
			return
		}
		if g.state.CompareAndSwap(s, s&^(held|waiting)) {
			if s&waiting != 0 {
				g.signal(g.wakeChan())
			}
			return
		}
	}
}

// signal sends one wake-up, unless one is already on its way.
func (g *Gate) signal(wake chan struct{}) {
	select {
	case wake <- struct{}{}:
	default:
	}
}

func (g *Gate) wakeChan() chan struct{} {
	if c := g.wake.Load(); c != nil {
		return *c
	}
	c := make(chan struct{}, 1)
	if g.wake.CompareAndSwap(nil, &c) {
		return c
	}
	return *g.wake.Load()
}

func (g *Gate) startWatch() {
	if g.watching.CompareAndSwap(false, true) {
		go g.watch()
	}
}

// watch opens the gate when one hold has lasted a whole HoldLimit period,
// and ends after idleTicks periods with no new hold.
func (g *Gate) watch() {
	last := g.state.Load() &^ waiting
	idle, quiet := 0, 0
	for {
		time.Sleep(HoldLimit)
		g.review(&quiet)
		cur := g.state.Load()
		switch {
		case cur&^waiting != last:
			idle = 0
		case cur&held != 0:
			// The same hold for a whole period: let the others in.
			g.release(cur, true)
		default:
			idle++
		}
		last = g.state.Load() &^ waiting
		if idle >= idleTicks {
			// No call for idleTicks periods: none contends either.
			g.engaged.Store(false)
			g.watching.Store(false)
			// An Enter that saw watching still true relies on this
			// goroutine: keep going if one came in meanwhile.
			// Only an open gate may go unwatched: a hold taken since the
			// last sample may have seen watching still true.
			// An engaged gate stays watched too: a caller may have engaged
			// it just now and seen watching still true.
			if s := g.state.Load(); s&held == 0 && s&^waiting == last && !g.engaged.Load() || !g.watching.CompareAndSwap(false, true) {
				return
			}
			idle = 0
		}
	}
}
