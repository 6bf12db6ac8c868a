package agent

import (
	"context"
	"runtime/debug"
	"testing"
	"time"
)

func TestGCTargetIsHalfTheLiveHeapAndAtLeastTheMinimumHeadroom(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, gcHeadroomPercent},
		{1 << 10, gcMaxPercent},        // a tiny heap: capped
		{2 << 20, 400},                 // 8 MiB of headroom over 2 MiB
		{16 << 20, gcHeadroomPercent},  // 8 MiB is half of it
		{100 << 20, gcHeadroomPercent}, // a large heap: half of it
		{10 << 30, gcHeadroomPercent},
	} {
		if got := gcPercent(c.live); got != c.want {
			t.Errorf("gcPercent(%d) = %d, want %d", c.live, got, c.want)
		}
		if c.live > 0 && c.want < gcMaxPercent {
			if headroom := c.live * uint64(c.want) / 100; headroom < gcMinHeadroom {
				t.Errorf("live %d: headroom %d under the minimum", c.live, headroom)
			}
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
		{2 << 20, 400},    // the heap shrank: more headroom
		{200 << 20, 50},   // it grew: half of it
		{300 << 20, 50},
	}
	for _, s := range steps {
		live = s.live
		if got := tu.step(); got != s.want {
			t.Fatalf("live %d: target %d, want %d", s.live, got, s.want)
		}
	}
	if len(sets) != 2 || sets[0] != 400 || sets[1] != 50 {
		t.Fatalf("set %v, want [400 50]", sets)
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
