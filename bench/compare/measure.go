package main

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// sample is one workload done one way by some callers: the median of the
// repetitions.
type sample struct {
	Workload string `json:"workload"`
	Way      string `json:"way"`
	Callers  int    `json:"callers"`
	// Ops is how many ops one repetition made, over all callers.
	Ops int `json:"ops"`
	// NsPerOp is a repetition's wall time over its ops: the inverse of
	// throughput (with several callers, ops overlap).
	NsPerOp float64 `json:"ns_per_op"`
	// LatencyNs is the time one caller waited per op (wall time over the
	// ops of one caller).
	LatencyNs float64 `json:"latency_ns"`
	// WallNs is a repetition's wall time.
	WallNs float64 `json:"wall_ns"`
	// Reps are every repetition's NsPerOp.
	Reps []float64 `json:"reps"`
}

// workload is one of the comparison's workloads: its callers and how many
// ops a repetition makes per way (over all callers; at least one each).
type workload struct {
	name, title, unit string
	callers           []int
	ops               map[string]int
}

var workloads = []workload{
	{"call_noop", "Call overhead: a no-op", "call", []int{1, 8, 64}, map[string]int{wayGo: 2_000_000, wayPyhost: 200_000, wayRPC: 20_000}},
	{"call_add", "Call overhead: add(2, 3)", "call", []int{1, 8, 64}, map[string]int{wayGo: 2_000_000, wayPyhost: 200_000, wayRPC: 20_000}},
	{"metrics_10k", "A metric-heavy check: 10,000 metrics with tags, all received in Go", "run", []int{1, 8}, map[string]int{wayGo: 400, wayPyhost: 16, wayRPC: 16}},
	{"cpu_bound", "A CPU-bound check: 20,000 steps of integer arithmetic", "unit", []int{1, 8, 64}, map[string]int{wayGo: 8192, wayPyhost: 128, wayRPC: 128}},
	{"io_bound", "An I/O-bound check: 50 ms of waiting", "run", []int{1, 8, 64}, map[string]int{wayGo: 1, wayPyhost: 1, wayRPC: 1}},
	{"glupy_lookup", "The glupy lookup workload: 1,000 lookups with a negative-lookup cache (50 µs a probe)", "workload", []int{1}, map[string]int{wayGo: 1, wayPyhost: 1, wayRPC: 1}},
	{"python_to_go", "Python calling Go: 1,000 calls of a Go no-op per op", "op", []int{1, 8}, map[string]int{wayGo: 2000, wayPyhost: 100, wayRPC: 4}},
}

// measure runs one workload with callers callers each of the three ways,
// reps times after one untimed warm-up, and returns each way's median
// repetition. The ways take turns within a repetition (in rotating order),
// so that the shared machine's drift between seconds favours none.
func (e *env) measure(w workload, callers, reps int) ([]sample, error) {
	runs := make([]func() (time.Duration, error), len(ways))
	for i, way := range ways {
		run, release, err := e.prepare(w, way, callers)
		defer release()
		if err != nil {
			return nil, err
		}
		if _, err := run(); err != nil { // the warm-up
			return nil, err
		}
		runs[i] = run
	}
	walls := make([][]float64, len(ways))
	for rep := range reps {
		for k := range ways {
			i := (rep + k) % len(ways)
			wall, err := runs[i]()
			if err != nil {
				return nil, err
			}
			walls[i] = append(walls[i], float64(wall))
		}
	}
	var samples []sample
	for i, way := range ways {
		perCaller := perCaller(w, way, callers)
		total := perCaller * callers
		s := sample{Workload: w.name, Way: way, Callers: callers, Ops: total, WallNs: median(walls[i])}
		for _, wall := range walls[i] {
			s.Reps = append(s.Reps, wall/float64(total))
		}
		s.NsPerOp = s.WallNs / float64(total)
		s.LatencyNs = s.WallNs / float64(perCaller)
		samples = append(samples, s)
	}
	return samples, nil
}

// pairedRatio times one way of a workload with a and with b callers in
// alternating repetitions (in alternating order) and returns the median ns
// per op of each and the median of the per-pair ratios b / a: the ratio
// of two figures each drifting with the shared machine, measured a
// fraction of a second apart rather than seconds.
func (e *env) pairedRatio(w workload, way string, a, b, pairs int) (nsA, nsB, ratio float64, err error) {
	runA, releaseA, err := e.prepare(w, way, a)
	defer releaseA()
	if err != nil {
		return 0, 0, 0, err
	}
	runB, releaseB, err := e.prepare(w, way, b)
	defer releaseB()
	if err != nil {
		return 0, 0, 0, err
	}
	perOp := func(run func() (time.Duration, error), callers int) (float64, error) {
		wall, err := run()
		return float64(wall) / float64(perCaller(w, way, callers)*callers), err
	}
	var as, bs, ratios []float64
	for i := -1; i < pairs; i++ { // pair -1 warms both up
		var x, y float64
		var errA, errB error
		if i%2 == 0 {
			x, errA = perOp(runA, a)
			y, errB = perOp(runB, b)
		} else {
			y, errB = perOp(runB, b)
			x, errA = perOp(runA, a)
		}
		if err := errors.Join(errA, errB); err != nil {
			return 0, 0, 0, err
		}
		if i >= 0 {
			as, bs, ratios = append(as, x), append(bs, y), append(ratios, y/x)
		}
	}
	return median(as), median(bs), median(ratios), nil
}

func perCaller(w workload, way string, callers int) int { return max(1, w.ops[way]/callers) }

// prepare makes each caller's op of one workload done one way, and returns
// a function timing one repetition: every caller making its ops at once.
func (e *env) prepare(w workload, way string, callers int) (func() (time.Duration, error), func(), error) {
	var releases []func()
	release := func() {
		for _, r := range releases {
			r()
		}
	}
	ops := make([]op, callers)
	for i := range ops {
		o, r, err := e.newOp(w.name, way)
		releases = append(releases, r)
		if err != nil {
			return nil, release, err
		}
		ops[i] = o
	}
	n := perCaller(w, way, callers)
	run := func() (time.Duration, error) {
		var wg sync.WaitGroup
		errs := make([]error, callers)
		start := make(chan struct{})
		for i, o := range ops {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for range n {
					if err := o(); err != nil {
						errs[i] = err
						return
					}
				}
			}()
		}
		t0 := time.Now()
		close(start)
		wg.Wait()
		wall := time.Since(t0)
		for _, err := range errs {
			if err != nil {
				return 0, fmt.Errorf("%s, %s, %d callers: %w", w.name, way, callers, err)
			}
		}
		return wall, nil
	}
	return run, release, nil
}

func median(vs []float64) float64 {
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
