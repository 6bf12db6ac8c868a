package pyhost

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// HookPoint is a named operation on a Go program's hot path that Python
// hooks may sit on (the glupy role; see docs/hooks.md): a dispatch hook
// sees each request first and may answer it, so the operation is skipped;
// a completion hook sees the request and the operation's result and may
// replace the result. Get one with Runtime.Hooks and call Call on the hot
// path. With no hook installed, Call is an atomic load and a nil check: no
// cgo, no Python. A hook that raises, or takes longer than the deadline,
// falls back to pass-through, and is counted. Hooks may be installed and
// removed while callers run: each Call uses the hooks installed when it
// began. A HookPoint is safe for concurrent use.
type HookPoint struct {
	rt   *Runtime
	name string
	set  atomic.Pointer[hookSet]
	// deadline bounds one hook call, in nanoseconds; 0: none.
	deadline atomic.Int64

	calls, answered, replaced, failed, late atomic.Uint64
	lastErr                                 atomic.Pointer[error]
	// meter counts what the installed hooks' calls cost (with accounting on).
	meter *Meter
}

// hookSet is what is installed, replaced as a whole.
type hookSet struct {
	dispatch, completion *Function
}

// HookStats counts what a hook point's hooks did.
type HookStats struct {
	Calls    uint64 // Calls that ran with at least one hook installed
	Answered uint64 // requests a dispatch hook answered (the operation skipped)
	Replaced uint64 // results a completion hook replaced
	Errors   uint64 // hook calls that raised (or failed to cross): passed through
	Late     uint64 // hook calls past the deadline: their answer ignored, passed through
	// LastError is the latest failure's message ("" if none).
	LastError string
	// Usage is what the hook calls cost: their time and the Python memory
	// they allocated (zero with accounting off).
	Usage MeterUsage
}

// Hooks is the hook point named op, made on first use; the same name
// gives the same point for the runtime's life.
func (rt *Runtime) Hooks(op string) *HookPoint {
	if h, ok := rt.hookPoints.Load(op); ok {
		return h.(*HookPoint)
	}
	h, _ := rt.hookPoints.LoadOrStore(op, &HookPoint{rt: rt, name: op})
	return h.(*HookPoint)
}

// Name is the operation's name.
func (h *HookPoint) Name() string { return h.name }

// SetDispatch installs fn as the dispatch hook (nil removes it). fn is
// called with the request; None passes it on, anything else is the answer.
func (h *HookPoint) SetDispatch(fn *Function) { h.swap(func(s *hookSet) { s.dispatch = fn }) }

// SetCompletion installs fn as the completion hook (nil removes it). fn is
// called with the request and the result; None keeps the result, anything
// else replaces it.
func (h *HookPoint) SetCompletion(fn *Function) { h.swap(func(s *hookSet) { s.completion = fn }) }

// Uninstall removes fn wherever it is installed here (a module that
// stops takes its own hooks away, and leaves others' alone).
func (h *HookPoint) Uninstall(fn *Function) {
	h.swap(func(s *hookSet) {
		if s.dispatch == fn {
			s.dispatch = nil
		}
		if s.completion == fn {
			s.completion = nil
		}
	})
}

// Remove removes both hooks. The functions are not closed: calls in flight
// may still be using them (they are freed when no longer referenced).
func (h *HookPoint) Remove() { h.set.Store(nil) }

var hookSwap sync.Mutex // serialises read-modify-write of hook sets

func (h *HookPoint) swap(change func(*hookSet)) {
	hookSwap.Lock()
	defer hookSwap.Unlock()
	next := &hookSet{}
	if cur := h.set.Load(); cur != nil {
		*next = *cur
	}
	change(next)
	if next.dispatch == nil && next.completion == nil {
		next = nil
	} else if h.rt.accounting {
		h.metered(next.dispatch, next.completion)
	}
	h.set.Store(next)
}

// metered counts the hooks' calls under the point's meter, made on the
// first install (a function installed on two points counts under the last).
// Called under hookSwap.
func (h *HookPoint) metered(fns ...*Function) {
	if h.meter == nil {
		m, err := h.rt.NewMeter()
		if err != nil {
			return // the runtime is closing: no call will be made
		}
		h.meter = m
	}
	for _, fn := range fns {
		if fn != nil {
			fn.SetMeter(h.meter)
		}
	}
}

// SetDeadline bounds each hook call: an answer that comes later than d is
// ignored (the call passes through) and counted as late. 0 means no
// deadline. Python is not interrupted: the deadline protects the result,
// not the time; a hook that is slow every time stays slow.
func (h *HookPoint) SetDeadline(d time.Duration) { h.deadline.Store(int64(d)) }

// Installed reports whether any hook is installed.
func (h *HookPoint) Installed() bool { return h.set.Load() != nil }

// Stats is what the hooks have done so far.
func (h *HookPoint) Stats() HookStats {
	st := HookStats{Calls: h.calls.Load(), Answered: h.answered.Load(), Replaced: h.replaced.Load(),
		Errors: h.failed.Load(), Late: h.late.Load()}
	if e := h.lastErr.Load(); e != nil {
		st.LastError = (*e).Error()
	}
	hookSwap.Lock()
	m := h.meter
	hookSwap.Unlock()
	if m != nil {
		st.Usage, _ = m.Usage()
	}
	return st
}

// Call runs the operation op on req with the hooks installed now: the
// dispatch hook first (its answer, if any, is returned and op is not
// called), then op, then the completion hook on op's result (when op
// succeeded). A hook that fails passes through. Requests and results cross
// as typed values (see value.go); a dispatch answer is whatever the hook
// returned, decoded (Python ints as int64, lists as []any …).
func (h *HookPoint) Call(ctx context.Context, req any, op func(ctx context.Context, req any) (any, error)) (any, error) {
	set := h.set.Load()
	if set == nil {
		return op(ctx, req)
	}
	h.calls.Add(1)
	if set.dispatch != nil {
		if answer, ok := h.run(set.dispatch, req, nil, false); ok && answer != nil {
			h.answered.Add(1)
			return answer, nil
		}
	}
	res, err := op(ctx, req)
	if err != nil || set.completion == nil {
		return res, err
	}
	if replacement, ok := h.run(set.completion, req, res, true); ok && replacement != nil {
		h.replaced.Add(1)
		return replacement, nil
	}
	return res, nil
}

// Dispatch runs only the dispatch hook: its answer and true, or false to
// pass (no hook, None, a failure, past the deadline).
func (h *HookPoint) Dispatch(req any) (any, bool) {
	set := h.set.Load()
	if set == nil || set.dispatch == nil {
		return nil, false
	}
	h.calls.Add(1)
	answer, ok := h.run(set.dispatch, req, nil, false)
	if !ok || answer == nil {
		return nil, false
	}
	h.answered.Add(1)
	return answer, true
}

// Complete runs only the completion hook on (req, result): the result it
// leaves (replaced or not).
func (h *HookPoint) Complete(req, result any) any {
	set := h.set.Load()
	if set == nil || set.completion == nil {
		return result
	}
	if replacement, ok := h.run(set.completion, req, result, true); ok && replacement != nil {
		h.replaced.Add(1)
		return replacement
	}
	return result
}

// run calls one hook; false when it failed or was late.
func (h *HookPoint) run(fn *Function, req, res any, withResult bool) (any, bool) {
	deadline := h.deadline.Load()
	var start time.Time
	if deadline > 0 {
		start = time.Now()
	}
	n := 1
	if withResult {
		n = 2
	}
	out, err := fn.invokeArgs(n, req, res)
	if err != nil {
		h.failed.Add(1)
		failure := fmt.Errorf("hook %s: %w", h.name, err) // its own variable: err stays on the stack
		h.lastErr.Store(&failure)
		return nil, false
	}
	if deadline > 0 && time.Since(start) > time.Duration(deadline) {
		h.late.Add(1)
		late := errors.New("hook " + h.name + ": past its deadline of " + time.Duration(deadline).String())
		h.lastErr.Store(&late)
		return nil, false
	}
	return out, true
}

// LoadHooks imports module (a name, or a .py path) and installs every hook
// it marks with @pyhost.dispatch(op) or @pyhost.completion(op) on the hook
// point of op, replacing the hook of that kind installed before. It returns
// the hook points it installed hooks on.
func (rt *Runtime) LoadHooks(module string) ([]*HookPoint, error) {
	collect, err := rt.LoadFunction("pyhost.hooks", "collect")
	if err != nil {
		return nil, fmt.Errorf("pyhost: load hooks: the SDK: %w", err)
	}
	defer collect.Close()
	found, err := collect.Invoke(module)
	if err != nil {
		return nil, fmt.Errorf("pyhost: load hooks of %s: %w", module, err)
	}
	marks, err := hookMarks(found)
	if err != nil {
		return nil, fmt.Errorf("pyhost: load hooks of %s: %w", module, err)
	}
	fns := make([]*Function, len(marks))
	for i, m := range marks {
		if fns[i], err = rt.LoadFunction(module, m.attr); err != nil {
			for _, fn := range fns[:i] {
				fn.Close()
			}
			return nil, fmt.Errorf("pyhost: load hooks of %s: %w", module, err)
		}
	}
	var points []*HookPoint
	seen := map[*HookPoint]bool{}
	for i, m := range marks {
		hp := rt.Hooks(m.op)
		if m.kind == "dispatch" {
			hp.SetDispatch(fns[i])
		} else {
			hp.SetCompletion(fns[i])
		}
		if !seen[hp] {
			seen[hp] = true
			points = append(points, hp)
		}
	}
	return points, nil
}

// hookMark is one hook a module marks: its kind, operation and attribute.
type hookMark struct{ kind, op, attr string }

// hookMarks reads what the SDK's collect returned ([kind, op, attribute]
// per hook), refusing anything else: the SDK running is the one the
// module's sys.path gives, which may not be this release's.
func hookMarks(found any) ([]hookMark, error) {
	list, ok := found.([]any)
	if !ok {
		return nil, fmt.Errorf("the SDK's collect returned %T, not a list", found)
	}
	marks := make([]hookMark, 0, len(list))
	for _, h := range list {
		parts, ok := h.([]any)
		if !ok || len(parts) != 3 {
			return nil, fmt.Errorf("the SDK's collect returned %v, not [kind, op, attribute]", h)
		}
		kind, k := parts[0].(string)
		op, o := parts[1].(string)
		attr, a := parts[2].(string)
		if !k || !o || !a || (kind != "dispatch" && kind != "completion") || op == "" {
			return nil, fmt.Errorf("the SDK's collect returned %v, not [kind, op, attribute]", h)
		}
		marks = append(marks, hookMark{kind, op, attr})
	}
	return marks, nil
}
