package pyhost

import (
	"runtime"
	"sync"

	"pyhost.dev/pyhost/internal/capi"
)

// Publish makes value what Python's pyhost.host.get(name) returns, replacing
// what was published under name before. The value is encoded once here (see
// the mapping in value.go) and kept in the engine; a get turns it into
// Python objects natively, once per publication, and hands every reader the
// same read-only object (dicts as types.MappingProxyType, lists as tuples)
// until the next Publish. Publishing never waits for the GIL: a Go thread
// may publish while Python runs. Names are process-wide; what a runtime
// published goes when it closes.
func (rt *Runtime) Publish(name string, value any) error {
	rid, err := rt.handle()
	if err != nil {
		return err
	}
	e := encoders.Get().(*encoder)
	defer putEncoder(e)
	e.buf = e.buf[:0]
	if err := e.value(value, 0); err != nil {
		return &Error{Op: "publish " + name, Class: ErrInvalidArgument, Msg: valueMessage(err)}
	}
	_, err = capi.Publish(rid, name, e.buf)
	runtime.KeepAlive(rt)
	if err != nil {
		return wrapErr("publish "+name, err)
	}
	if subs := rt.subscribers.Load(); subs != nil {
		for _, s := range *subs {
			s.fn(name)
		}
	}
	return nil
}

// subscriber is one OnPublish registration.
type subscriber struct{ fn func(name string) }

// OnPublish registers fn to be called after each successful Publish on this
// runtime, with the name published, on the publisher's goroutine, once the
// new value is what pyhost.host.get returns: fn must not block (hand the
// name to a goroutine of your own). It returns a function that removes the
// registration. The modules package delivers notifications this way.
func (rt *Runtime) OnPublish(fn func(name string)) (remove func()) {
	s := &subscriber{fn: fn}
	rt.subscribersMu.Lock()
	defer rt.subscribersMu.Unlock()
	var next []*subscriber
	if cur := rt.subscribers.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, s)
	rt.subscribers.Store(&next)
	return func() {
		rt.subscribersMu.Lock()
		defer rt.subscribersMu.Unlock()
		cur := rt.subscribers.Load()
		if cur == nil {
			return
		}
		kept := make([]*subscriber, 0, len(*cur))
		for _, o := range *cur {
			if o != s {
				kept = append(kept, o)
			}
		}
		rt.subscribers.Store(&kept)
	}
}

// encoders recycles encoding buffers across calls.
var encoders = sync.Pool{New: func() any { return &encoder{buf: make([]byte, 0, 256)} }}

func putEncoder(e *encoder) {
	clear(e.keys) // what an encoding that failed midway left
	e.keys = e.keys[:0]
	if cap(e.buf) <= 1<<20 {
		encoders.Put(e)
	}
}
