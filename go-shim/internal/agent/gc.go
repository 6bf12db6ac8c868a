package agent

import (
	"context"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The agent's heap is mostly long-lived state (a share per instance: its
// schedule entry, sampler contexts, exposed series) plus the short-lived
// garbage of its runs. Go's default target (GOGC=100: collect when the heap
// has grown by the live heap since the last collection, 4 MiB at least)
// fits neither end: a large agent would hold twice its live memory, and a
// small one would collect several times a second, each collection costing a
// few milliseconds of CPU. So the agent keeps its headroom at half its live
// heap, and at least gcMinHeadroom, retuned as the live heap changes. A
// GOGC set in the environment is the operator's choice and is left alone.
const (
	gcHeadroomPercent = 50
	gcMinHeadroom     = 8 << 20
	gcTuneEvery       = time.Second
	// gcRetuneBy: a target within this fraction of the current one is kept.
	gcRetuneBy = 0.1
)

// goMinHeap is Go's minimum heap goal at GOGC=100; the runtime scales it
// with the target (4 MiB × GOGC/100).
const goMinHeap = 4 << 20

// gcPercent is the GC target (GOGC) for a live heap of live bytes: a goal
// of live plus half of it, or plus gcMinHeadroom when that is more. On a
// small heap the runtime's minimum (which grows with the target) would
// otherwise set the goal, so the target is also kept at or under the one
// whose minimum is live plus gcMinHeadroom.
func gcPercent(live uint64) int {
	p := gcHeadroomPercent
	if live > 0 {
		p = max(p, int(min(100*gcMinHeadroom/live, 100*(live+gcMinHeadroom)/goMinHeap)))
	}
	return p
}

// gcTuner sets the GC target from the live heap.
type gcTuner struct {
	live    func() uint64 // the live heap after the last collection; 0 before the first
	set     func(int) int // debug.SetGCPercent
	current int           // the target set last
}

func newGCTuner() *gcTuner {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	return &gcTuner{
		live: func() uint64 {
			metrics.Read(sample)
			if sample[0].Value.Kind() != metrics.KindUint64 {
				return 0
			}
			return sample[0].Value.Uint64()
		},
		set:     debug.SetGCPercent,
		current: 100,
	}
}

// step retunes once; it reports the target in force.
func (t *gcTuner) step() int {
	live := t.live()
	if live == 0 {
		return t.current
	}
	next := gcPercent(live)
	if math.Abs(float64(next-t.current)) > gcRetuneBy*float64(t.current) {
		t.set(next)
		t.current = next
	}
	return t.current
}

// tuneGC retunes the GC target every gcTuneEvery until ctx ends, then puts
// back the target it found; it does nothing when GOGC is set.
func tuneGC(ctx context.Context) {
	if os.Getenv("GOGC") != "" {
		return
	}
	found := debug.SetGCPercent(100) // reading the target means setting it
	debug.SetGCPercent(found)
	if found < 0 { // collection turned off by the program: its choice too
		return
	}
	defer debug.SetGCPercent(found)
	t := newGCTuner()
	t.current = found
	tick := time.NewTicker(gcTuneEvery)
	defer tick.Stop()
	for {
		t.step()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
