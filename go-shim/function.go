package pyhost

import (
	"runtime"
	"sync/atomic"

	"pyhost.dev/pyhost/internal/capi"
	"pyhost.dev/pyhost/internal/gate"
)

// calls queues concurrent function calls in Go's scheduler rather than on
// the GIL inside cgo (see package gate). One per process, like the GIL.
var calls gate.Gate

// Function is a module-level Python function, looked up once.
type Function struct {
	rt     *Runtime
	id     uint64
	closed atomic.Bool
}

// LoadFunction imports module (a name, or a .py path) and looks up name.
func (rt *Runtime) LoadFunction(module, name string) (*Function, error) {
	rid, err := rt.handle()
	if err != nil {
		return nil, err
	}
	id, err := capi.LoadFunction(rid, module, name)
	runtime.KeepAlive(rt)
	if err != nil {
		return nil, wrapErr("load function "+module+"."+name, err)
	}
	f := &Function{rt: rt, id: id}
	runtime.SetFinalizer(f, func(f *Function) { _ = f.Close() })
	return f, nil
}

// Call calls the function with positional arguments given as a JSON array
// (nil means none) and returns its result as JSON.
func (f *Function) Call(argsJSON []byte) ([]byte, error) {
	return f.AppendCall(make([]byte, 0, 64), argsJSON)
}

// AppendCall is Call appending the result to dst. A result that fits in
// dst's spare capacity is written there directly: no allocation.
func (f *Function) AppendCall(dst []byte, argsJSON []byte) ([]byte, error) {
	if f == nil || f.closed.Load() {
		return dst, ErrClosed
	}
	rid, err := f.rt.handle()
	if err != nil {
		return dst, err
	}
	lease := calls.Enter()
	out, err := capi.CallFunction(rid, f.id, argsJSON, dst)
	calls.Leave(lease)
	runtime.KeepAlive(f)
	if err != nil {
		return dst, wrapErr("call function", err)
	}
	return out, nil
}

// Close frees the function. Idempotent.
func (f *Function) Close() error {
	if f == nil || !f.closed.CompareAndSwap(false, true) {
		return nil
	}
	runtime.SetFinalizer(f, nil)
	rid, err := f.rt.handle()
	if err != nil {
		return nil
	}
	return wrapErr("free function", capi.FreeFunction(rid, f.id))
}
