package agent

import (
	"context"
	"runtime/debug"
	"testing"
	"time"
)

func TestGCTargetIsHalfTheLiveHeapAndAtLeastTheMinimumHeadroom(t *testing.T) {
	if got := gcPercent(0); got != gcHeadroomPercent {
		t.Errorf("gcPercent(0) = %d, want %d", got, gcHeadroomPercent)
	}
	const MiB = 1 << 20
	for _, live := range []uint64{64 << 10, 1 * MiB, 2 * MiB, 3 * MiB, 5 * MiB, 16 * MiB, 100 * MiB, 10 << 30} {
		p := gcPercent(live)
		goal := heapGoal(live, p)
		want := max(live+live*gcHeadroomPercent/100, live+gcMinHeadroom)
		// Integer percents: within 1% of the live heap (or 1% of the
		// minimum heap, where it sets the goal) of the intended goal.
		slack := max(live, goMinHeap) / 100
		if goal+slack < want || goal > want+slack {
			t.Errorf("live %d: target %d%% sets a goal of %d, want about %d", live, p, goal, want)
		}
	}
}

func TestGCTunerRetunesOnlyOnARealChange(t *testing.T) {
	var live uint64
	var sets []int
	tu := &gcTuner{live: func() uint64 { return live }, current: 100,
		set: func(p int) int { sets = append(sets, p); return 0 }}
	steps := []struct {
		live uint64
		want int
	}{
		{0, 100},          // no collection yet: left as found
		{8 << 20, 100},    // 100% is right
		{7800 << 10, 100}, // 105%: within the margin
		{2 << 20, 250},    // the heap shrank: more headroom (the minimum heap sets the goal)
		{200 << 20, 50},   // it grew: half of it
		{300 << 20, 50},
	}
	for _, s := range steps {
		live = s.live
		if got := tu.step(); got != s.want {
			t.Fatalf("live %d: target %d, want %d", s.live, got, s.want)
		}
	}
	if len(sets) != 2 || sets[0] != 250 || sets[1] != 50 {
		t.Fatalf("set %v, want [250 50]", sets)
	}
}

func TestGOGCInTheEnvironmentIsLeftAlone(t *testing.T) {
	t.Setenv("GOGC", "100")
	before := debug.SetGCPercent(77)
	defer debug.SetGCPercent(before)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	tuneGC(ctx) // returns at once
	if got := debug.SetGCPercent(before); got != 77 {
		t.Fatalf("the GC target became %d with GOGC set", got)
	}
}

func TestTheTunerPutsBackTheTargetItFound(t *testing.T) {
	t.Setenv("GOGC", "") // as unset
	before := debug.SetGCPercent(123)
	defer debug.SetGCPercent(before)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); tuneGC(ctx) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	<-done
	if got := debug.SetGCPercent(before); got != 123 {
		t.Fatalf("after the tuner stopped, the GC target is %d, want 123", got)
	}
}

// heapGoal is the heap goal Go's runtime sets (runtime/mgcpacer.go) for a live heap of live bytes
// at target percent.
func heapGoal(live uint64, percent int) uint64 {
	return max(live*uint64(100+percent)/100, goMinHeap*uint64(percent)/100)
}
