package modules

import (
	"context"
	"sync"
	"sync/atomic"
)

// note is one notification: a published name and the part that changed.
type note struct{ kind, key string }

// queue is one module's pending notifications. The publisher never waits on
// it: push takes a short mutex and never blocks. A notification already
// pending is not queued twice (the module reads the latest state anyway),
// so a slow module's backlog is at most one entry per (kind, key); past
// limit distinct entries new ones are dropped. Both are counted.
type queue struct {
	mu      sync.Mutex
	pending []note
	index   map[note]struct{}
	limit   int
	wake    chan struct{} // capacity 1: "something is pending"

	queued    atomic.Uint64
	coalesced atomic.Uint64
	dropped   atomic.Uint64
}

func newQueue(limit int) *queue {
	return &queue{index: map[note]struct{}{}, limit: limit, wake: make(chan struct{}, 1)}
}

// push queues n unless it is pending already or the queue is full.
func (q *queue) push(n note) {
	q.mu.Lock()
	switch _, dup := q.index[n]; {
	case dup:
		q.mu.Unlock()
		q.coalesced.Add(1)
		return
	case len(q.pending) >= q.limit:
		q.mu.Unlock()
		q.dropped.Add(1)
		return
	}
	q.pending = append(q.pending, n)
	q.index[n] = struct{}{}
	q.mu.Unlock()
	q.queued.Add(1)
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// pop waits for the oldest pending notification; false once ctx ends.
func (q *queue) pop(ctx context.Context) (note, bool) {
	for {
		if ctx.Err() != nil {
			return note{}, false
		}
		q.mu.Lock()
		if len(q.pending) > 0 {
			n := q.pending[0]
			q.pending[0] = note{}
			q.pending = q.pending[1:]
			delete(q.index, n)
			q.mu.Unlock()
			return n, true
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-ctx.Done():
			return note{}, false
		}
	}
}

// backlog is how many notifications are pending.
func (q *queue) backlog() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}
