// Package schedule runs tasks on their own intervals on a bounded pool of
// runners, the way the Datadog Agent runs checks: each task's first run is
// jittered, a tick that finds the task's previous run still queued or going
// is skipped and counted (never stacked), and a run past its timeout has its
// context cancelled.
//
// Runners take turns: one runner runs the queued tasks one after another
// while they are short, and a run that lasts longer than spill passes the
// turn on, so the next runner starts the next task beside it (up to the
// pool's size). Short Python checks run back to back on one thread instead
// of several threads fighting for the GIL, each hand-over a futex wake-up
// and a context switch; checks that wait (I/O, sleeps) still overlap.
//
// A run that goes on past its timeout no longer holds a runner: another
// runner takes its place at once (up to MaxOverdue such runs at a time), so
// tasks that hang cannot starve the healthy ones, and the runner of the late
// run ends when it returns. A run still going Grace after its timeout is
// stuck: abandoned, reported in its Stats, its task not run again until it
// returns, and what it reports then dropped (see Finish).
package schedule

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Outcome is what one run reports back for the task's statistics.
type Outcome struct {
	Err      error // nil when the run was clean
	Warnings int
	Metrics  int
}

// Task is one scheduled unit of work (a check instance).
type Task struct {
	ID       string
	Interval time.Duration // > 0
	Timeout  time.Duration // > 0; the run's context ends after it
	// MaxJitter bounds the delay before the first run (default: Interval).
	MaxJitter time.Duration
	Run       func(ctx context.Context) Outcome
}

// Options tune how late runs are handled; zero values take the defaults.
type Options struct {
	// Grace is how long a run may go on past its timeout before it is
	// abandoned as stuck. Default: DefaultGrace.
	Grace time.Duration
	// MaxOverdue bounds the runs past their timeout that have been given a
	// replacement runner; beyond it, late runs keep their runners (the pool
	// shrinks rather than the process growing without bound). Default:
	// DefaultMaxOverdue.
	MaxOverdue int
}

const (
	DefaultGrace      = 5 * time.Second
	DefaultMaxOverdue = 16
)

// Stats are one task's counters since the scheduler started.
type Stats struct {
	ID           string
	Runs         uint64
	Errors       uint64 // runs that returned an error (timeouts included)
	Timeouts     uint64 // runs cancelled because they passed their timeout
	Warnings     uint64 // warnings over all runs
	Skipped      uint64 // ticks dropped because the previous run was not done
	LastRun      time.Time
	LastDuration time.Duration
	// QueueWait is the time runs spent between their due time and their
	// start (waiting for a runner), over all runs; LastQueueWait the latest's.
	QueueWait     time.Duration
	LastQueueWait time.Duration
	AvgDuration   time.Duration
	LastMetrics   int
	LastErr       error // the latest run's error, nil if it was clean
	LastFailure   error // the latest error of any run
	Running       bool
	// Stuck: the run going now passed its timeout by more than Grace.
	Stuck bool
	// Abandoned counts runs that were stuck (each once).
	Abandoned uint64
}

// A run's life, for abandoning it exactly once.
const (
	runGoing int32 = iota
	runReturned
	runStuck
)

type runKey struct{}

// run is one run in progress.
type run struct {
	state    atomic.Int32
	replaced atomic.Bool // a replacement runner took this run's place
}

// Finish is called by a task's Run when it has its result, before it acts
// on it: false means the run was abandoned as stuck, and the result is to be
// dropped (the scheduler counted the run as abandoned already).
func Finish(ctx context.Context) bool {
	r, _ := ctx.Value(runKey{}).(*run)
	return r == nil || r.finish()
}

func (r *run) finish() bool {
	return r.state.CompareAndSwap(runGoing, runReturned) || r.state.Load() == runReturned
}

// entry is one task and its counters; an agent keeps one per instance, so
// what Stats reports is kept compactly here and made into Stats on demand.
type entry struct {
	task    Task
	pending atomic.Bool                // queued or running: a tick now is skipped
	due     int64                      // when the queued run was due (Scheduler.epoch ns); written before it is queued
	going   atomic.Pointer[runContext] // the run going now, for Stop to cancel

	mu sync.Mutex
	counters
}

// counters is an entry's share of Stats (under entry.mu).
type counters struct {
	runs, errors, timeouts, warnings, skipped, abandoned uint64

	lastRun                                       int64 // unix ns; 0: never
	lastDuration, queueWait, lastQueueWait, total time.Duration
	lastErr, lastFailure                          error
	lastMetrics                                   int32
	running, stuck                                bool
}

// stats is the entry's Stats (under e.mu).
func (e *entry) stats() Stats {
	c := &e.counters
	st := Stats{ID: e.task.ID, Runs: c.runs, Errors: c.errors, Timeouts: c.timeouts, Warnings: c.warnings,
		Skipped: c.skipped, Abandoned: c.abandoned, LastDuration: c.lastDuration, QueueWait: c.queueWait,
		LastQueueWait: c.lastQueueWait, LastMetrics: int(c.lastMetrics), LastErr: c.lastErr,
		LastFailure: c.lastFailure, Running: c.running, Stuck: c.stuck}
	if c.lastRun != 0 {
		st.LastRun = time.Unix(0, c.lastRun)
	}
	if c.runs > 0 {
		st.AvgDuration = c.total / time.Duration(c.runs)
	}
	return st
}

// Scheduler runs tasks; create with New, Add tasks, then Start and Stop once.
type Scheduler struct {
	runners int
	opts    Options
	entries []*entry
	queue   chan *entry
	overdue atomic.Int64  // runs past their timeout given a replacement runner
	stuck   atomic.Int64  // runs abandoned that have not returned
	turn    chan struct{} // one token: the runner holding it takes the next task

	started atomic.Bool
	epoch   time.Time     // what entry.due counts from
	stop    chan struct{} // closed by Stop: no more ticks, runners exit when idle
	// cancelled is set when Stop cancels the runs still going at its
	// deadline: a run that starts after it is cancelled at once.
	cancelled atomic.Bool
	ticks     sync.WaitGroup
	workers   sync.WaitGroup
}

// New returns a scheduler with the given number of runners (at least 1).
func New(runners int, opts Options) *Scheduler {
	if runners < 1 {
		runners = 1
	}
	if opts.Grace <= 0 {
		opts.Grace = DefaultGrace
	}
	if opts.MaxOverdue <= 0 {
		opts.MaxOverdue = DefaultMaxOverdue
	}
	s := &Scheduler{runners: runners, opts: opts, stop: make(chan struct{}),
		turn: make(chan struct{}, 1), epoch: time.Now()}
	s.turn <- struct{}{}
	return s
}

// spill is how long a run may keep the turn: past it, another runner starts
// the next task beside it.
const spill = 2 * time.Millisecond

// Stuck is how many abandoned runs have not returned yet.
func (s *Scheduler) Stuck() int { return int(s.stuck.Load()) }

// Add registers a task; only before Start.
func (s *Scheduler) Add(t Task) error {
	switch {
	case s.started.Load():
		return errors.New("schedule: Add after Start")
	case t.Interval <= 0:
		return fmt.Errorf("schedule: task %s: interval must be positive, got %v", t.ID, t.Interval)
	case t.Timeout <= 0:
		return fmt.Errorf("schedule: task %s: timeout must be positive, got %v", t.ID, t.Timeout)
	case t.Run == nil:
		return fmt.Errorf("schedule: task %s has no Run", t.ID)
	}
	if t.MaxJitter <= 0 || t.MaxJitter > t.Interval {
		t.MaxJitter = t.Interval
	}
	e := &entry{task: t}
	s.entries = append(s.entries, e)
	return nil
}

// Start starts the runners and the ticker.
func (s *Scheduler) Start() {
	if !s.started.CompareAndSwap(false, true) {
		return
	}
	// Each task is in the queue at most once, so this never blocks the ticker.
	s.queue = make(chan *entry, len(s.entries))
	for range s.runners {
		s.workers.Add(1)
		go s.runner()
	}
	s.ticks.Add(1)
	go s.tick(time.Now())
}

// quantum is the resolution of first-run offsets, as the Datadog Agent's
// one-second buckets are. Tasks with the same interval and offset slot
// share their due times, so one wake-up enqueues them all and the runner
// runs them back to back: with thousands of instances the ticker wakes a
// few times a second, not once per run, and the runs find the caches
// warm (1,000 runs a second cost 40% less CPU than in 50 ms slots).
const quantum = time.Second

// tick is the one goroutine that decides when tasks are due.
func (s *Scheduler) tick(start time.Time) {
	defer s.ticks.Done()
	due := make(dueHeap, 0, len(s.entries))
	for _, e := range s.entries {
		offset := rand.N(e.task.MaxJitter)
		if q := min(quantum, e.task.MaxJitter); q > 0 {
			offset = offset.Truncate(q)
		}
		due = append(due, dueEntry{at: start.Add(offset), e: e})
	}
	heap.Init(&due)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for len(due) > 0 {
		timer.Reset(time.Until(due[0].at))
		select {
		case <-s.stop:
			return
		case <-timer.C:
		}
		now := time.Now()
		for len(due) > 0 && !due[0].at.After(now) {
			d := &due[0]
			s.enqueue(d.e, d.at)
			// Fixed rate; ticks missed while the process was stalled are
			// not replayed.
			d.at = d.at.Add(d.e.task.Interval)
			if !d.at.After(now) {
				d.at = now.Add(d.e.task.Interval)
			}
			heap.Fix(&due, 0)
		}
	}
}

type dueEntry struct {
	at time.Time
	e  *entry
}

type dueHeap []dueEntry

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(dueEntry)) }
func (h *dueHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (s *Scheduler) enqueue(e *entry, due time.Time) {
	if !e.pending.CompareAndSwap(false, true) {
		e.mu.Lock()
		e.skipped++
		e.mu.Unlock()
		return
	}
	e.due = int64(due.Sub(s.epoch)) // the runner reads it after receiving e from the queue
	s.queue <- e
}

func (s *Scheduler) runner() {
	defer s.workers.Done()
	// A long run passes the turn on; a short one keeps it. One timer per
	// runner, re-armed for each run.
	var passed atomic.Bool
	pass := time.AfterFunc(time.Hour, func() {
		passed.Store(true)
		s.turn <- struct{}{}
	})
	pass.Stop()
	d := newDeadline()
	defer d.timer.Stop()
	for {
		// Stop wins over queued work: queued runs are dropped at shutdown.
		select {
		case <-s.stop:
			return
		case <-s.turn:
		}
		for holding := true; holding; {
			select {
			case <-s.stop:
				s.turn <- struct{}{}
				return
			default:
			}
			var e *entry
			select {
			case <-s.stop:
				s.turn <- struct{}{}
				return
			case e = <-s.queue:
			}
			passed.Store(false)
			pass.Reset(spill)
			replaced := s.runOne(e, d)
			if !pass.Stop() {
				for !passed.Load() { // the hand-over is under way
					runtime.Gosched()
				}
				holding = false
			}
			if replaced {
				// Another runner took this one's place while its run was late.
				s.overdue.Add(-1)
				if holding {
					s.turn <- struct{}{}
				}
				return
			}
		}
	}
}

// deadline is a runner's timer for the deadline of its run, re-armed for
// each run.
type deadline struct {
	timer *time.Timer
	run   atomic.Pointer[runContext] // the run it is armed for
	fired atomic.Bool                // its function has run to the end
}

func newDeadline() *deadline {
	d := &deadline{}
	d.timer = time.AfterFunc(time.Hour, func() {
		if c := d.run.Load(); c != nil {
			c.end(context.DeadlineExceeded, true)
		}
		d.fired.Store(true)
	})
	d.timer.Stop()
	return d
}

// arm starts c's deadline.
func (d *deadline) arm(c *runContext, timeout time.Duration) {
	d.fired.Store(false)
	d.run.Store(c)
	d.timer.Reset(timeout)
}

// disarm stops it; if it fired, it waits until its function is done, so
// that a deadline never reaches the runner's next run.
func (d *deadline) disarm() {
	if !d.timer.Stop() {
		for !d.fired.Load() {
			runtime.Gosched()
		}
	}
	d.run.Store(nil)
}

// runOne runs e once; it reports whether a replacement runner took this
// runner's place meanwhile.
func (s *Scheduler) runOne(e *entry, d *deadline) bool {
	defer e.pending.Store(false)
	e.mu.Lock()
	e.running = true
	e.mu.Unlock()

	start := time.Now()
	c := &runContext{s: s, e: e, deadline: start.Add(e.task.Timeout)}
	r := &c.run
	d.arm(c, e.task.Timeout)
	e.going.Store(c)
	if s.cancelled.Load() { // Stop cancelled the runs before this one began
		c.end(context.Canceled, true)
	}
	queued := max(start.Sub(s.epoch)-time.Duration(e.due), 0)
	out := e.task.Run(c)
	took := time.Since(start)
	d.disarm()
	e.going.Store(nil)
	timedOut := errors.Is(c.Err(), context.DeadlineExceeded) && out.Err != nil
	abandoned := !r.finish()
	c.end(context.Canceled, false) // what the run left waiting on its context ends with it

	e.mu.Lock()
	defer e.mu.Unlock()
	st := &e.counters
	st.running = false
	st.queueWait += queued
	st.lastQueueWait = queued
	if abandoned {
		// Counted when it was abandoned; what it reported is not a run's.
		st.stuck = false
		s.stuck.Add(-1)
		return r.replaced.Load()
	}
	st.runs++
	st.lastRun = start.UnixNano()
	st.lastDuration = took
	st.total += took
	st.lastMetrics = int32(min(out.Metrics, math.MaxInt32))
	st.warnings += uint64(out.Warnings)
	st.lastErr = out.Err
	if out.Err != nil {
		st.errors++
		st.lastFailure = out.Err
	}
	if timedOut {
		st.timeouts++
	}
	return r.replaced.Load()
}

// late runs when a run's context ends (its timeout, or shutdown) while the
// run goes on: a replacement runner takes its place, and after Grace the run
// is abandoned as stuck.
func (s *Scheduler) late(e *entry, r *run) {
	if r.state.Load() != runGoing {
		return
	}
	select {
	case <-s.stop: // shutting down: no new runners
	default:
		if s.overdue.Add(1) <= int64(s.opts.MaxOverdue) {
			r.replaced.Store(true)
			s.workers.Add(1)
			go s.runner()
		} else {
			s.overdue.Add(-1)
		}
	}
	time.AfterFunc(s.opts.Grace, func() {
		if !r.state.CompareAndSwap(runGoing, runStuck) {
			return
		}
		s.stuck.Add(1)
		e.mu.Lock()
		e.stuck = true
		e.abandoned++
		e.mu.Unlock()
	})
}

// Stop stops ticking and waits for runs in flight until ctx ends; runs still
// going then are cancelled through their context, and Stop waits for them to
// return for at most grace more. It reports runs that never returned (stuck
// ones included); they are left to return on their own.
func (s *Scheduler) Stop(ctx context.Context, grace time.Duration) error {
	select {
	case <-s.stop:
		return nil
	default:
	}
	s.started.Store(true) // a scheduler stopped before Start never starts
	close(s.stop)
	s.ticks.Wait()
	done := make(chan struct{})
	go func() { s.workers.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.cancelRuns()
	select {
	case <-done:
		return nil
	case <-time.After(grace):
	}
	var stuck []string
	for _, st := range s.Stats() {
		if st.Running {
			stuck = append(stuck, st.ID)
		}
	}
	return fmt.Errorf("schedule: %d run(s) did not stop after cancellation: %v", len(stuck), stuck)
}

// cancelRuns cancels every run going now, and any that starts after.
func (s *Scheduler) cancelRuns() {
	s.cancelled.Store(true)
	for _, e := range s.entries {
		if c := e.going.Load(); c != nil {
			c.end(context.Canceled, true)
		}
	}
}

// Stats returns every task's statistics, in the order the tasks were added.
func (s *Scheduler) Stats() []Stats {
	out := make([]Stats, len(s.entries))
	for i, e := range s.entries {
		e.mu.Lock()
		out[i] = e.stats()
		e.mu.Unlock()
	}
	return out
}
