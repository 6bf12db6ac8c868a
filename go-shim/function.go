package pyhost

import (
	"context"
	"fmt"
	"runtime"
	"sync"
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
	// encodedResults: a direct call has returned a value that is not a
	// scalar, so later ones lend space for one. (Beside closed, in the
	// padding before meter: the struct stays 32 bytes.)
	encodedResults atomic.Bool
	meter          atomic.Uint64 // the Meter typed calls are counted under (0: none)
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

// Invoke calls the function with typed arguments and returns its result,
// mapped as the value encoding maps them (see value.go): Invoke(2, 3) of
// `def add(a, b): return a + b` returns int64(5). No JSON text is made.
// A Python exception is a *PythonError; an argument that cannot cross, or
// a result that cannot (a set, a NaN, a cyclic list), is an error too.
func (f *Function) Invoke(args ...any) (any, error) {
	return f.InvokeContext(context.Background(), args...)
}

// InvokeContext is Invoke whose context reaches the Go functions Python
// calls meanwhile (see DefineModule): cancelling ctx cancels theirs. It does
// not interrupt the Python function itself.
func (f *Function) InvokeContext(ctx context.Context, args ...any) (any, error) {
	if f == nil || f.closed.Load() {
		return nil, ErrClosed
	}
	rid, err := f.rt.handle()
	if err != nil {
		return nil, err
	}
	var direct capi.DirectArgs
	if len(args) != 0 && !directArgs(&direct, args) {
		return f.invokeEncoded(ctx, rid, args)
	}
	if !ctxFuncsSet.Load() {
		// No Go function takes a context: no token to register, and a tail
		// call (measured: a callToken and leave on this path cost ~12 ns).
		return f.invokeDirect(rid, &direct, 0)
	}
	token, call := callToken(ctx)
	v, err := f.invokeDirect(rid, &direct, token)
	call.leave(token)
	return v, err
}

// invokeEncoded is Invoke with the arguments encoded: any number of them,
// of any kind the value encoding maps.
func (f *Function) invokeEncoded(ctx context.Context, rid uint64, args []any) (any, error) {
	// Heap buffers, recycled: the engine holds these pointers while Python
	// runs, and Python may call Go on this goroutine meanwhile, which may
	// grow (and move) its stack, so they cannot be on the stack.
	b := invokeBuffers.Get().(*invokeBuffer)
	defer invokeBuffers.Put(b)
	e := encoder{buf: b.args[:0]}
	e.header(capi.ValueList, len(args))
	for i, a := range args {
		if err := e.value(a, 0); err != nil {
			return nil, &Error{Op: "invoke function", Class: ErrInvalidArgument, Msg: fmt.Sprintf("argument %d: %s", i+1, valueMessage(err))}
		}
	}
	if cap(e.buf) <= 1<<16 {
		b.args = e.buf[:0]
	}
	token, call := callToken(ctx)
	lease := calls.Enter()
	out, err := capi.InvokeFunction(rid, f.id, e.buf, token, f.meter.Load(), b.result[:0])
	calls.Leave(lease)
	call.leave(token)
	runtime.KeepAlive(f)
	if err != nil {
		return nil, wrapErr("invoke function", err)
	}
	v, err := decodeValue(out)
	if err != nil {
		return nil, fmt.Errorf("pyhost: invoke function: the result: %w", err)
	}
	return v, nil
}

// invokeArgs is Invoke of n (one or two) arguments a and b with no
// context: the hook path (see hooks.go), without the variadic slice, the
// context registration or a token of its own (Go functions the hook calls
// get the context of the call the hook runs in, if any).
func (f *Function) invokeArgs(n int, a, b any) (any, error) {
	if f == nil || f.closed.Load() {
		return nil, ErrClosed
	}
	rid, err := f.rt.handle()
	if err != nil {
		return nil, err
	}
	args := capi.DirectArgs{N: n}
	var ok bool
	if args.V[0], ok = direct(a); ok && n == 2 {
		args.V[1], ok = direct(b)
	}
	if ok {
		return f.invokeDirect(rid, &args, 0)
	}
	buf := invokeBuffers.Get().(*invokeBuffer)
	e := encoder{buf: buf.args[:0]}
	e.header(capi.ValueList, n)
	err = e.value(a, 0)
	if err == nil && n == 2 {
		err = e.value(b, 0)
	}
	if err != nil {
		invokeBuffers.Put(buf)
		return nil, &Error{Op: "invoke function", Class: ErrInvalidArgument, Msg: valueMessage(err)}
	}
	if cap(e.buf) <= 1<<16 {
		buf.args = e.buf[:0]
	}
	lease := calls.Enter()
	out, err := capi.InvokeFunction(rid, f.id, e.buf, 0, f.meter.Load(), buf.result[:0])
	calls.Leave(lease)
	runtime.KeepAlive(f)
	if err != nil {
		invokeBuffers.Put(buf)
		return nil, wrapErr("invoke function", err)
	}
	v, err := decodeValue(out)
	invokeBuffers.Put(buf)
	if err != nil {
		return nil, fmt.Errorf("pyhost: invoke function: the result: %w", err)
	}
	return v, nil
}

// invokeDirect is a typed call whose arguments cross in place (see
// direct), as does a scalar result. Space for an encoded result is lent
// only once the function has returned one: most results of hot calls (a
// hook's None, a count) need none.
func (f *Function) invokeDirect(rid uint64, args *capi.DirectArgs, token uint64) (any, error) {
	var buf *invokeBuffer
	var scratch []byte
	if f.encodedResults.Load() {
		buf = invokeBuffers.Get().(*invokeBuffer)
		scratch = buf.result[:0]
	}
	lease := calls.Enter()
	tag, bits, out, err := capi.InvokeDirect(rid, f.id, args, token, f.meter.Load(), scratch)
	calls.Leave(lease)
	runtime.KeepAlive(f)
	var v any
	switch {
	case err != nil:
		err = wrapErr("invoke function", err)
	case tag != capi.ValueEncoded:
		if v, err = scalarValue(tag, bits); err != nil {
			err = fmt.Errorf("pyhost: invoke function: the result: %w", err)
		}
	default:
		if buf == nil {
			f.encodedResults.Store(true)
		}
		if v, err = decodeValue(out); err != nil {
			err = fmt.Errorf("pyhost: invoke function: the result: %w", err)
		}
	}
	if buf != nil {
		invokeBuffers.Put(buf)
	}
	return v, err
}

// directArgs fills d with args passed in place, when there are at most two
// and each can be (see direct).
func directArgs(d *capi.DirectArgs, args []any) bool {
	if len(args) > len(d.V) {
		return false
	}
	for i, a := range args {
		var ok bool
		if d.V[i], ok = direct(a); !ok {
			return false
		}
	}
	d.N = len(args)
	return true
}

// invokeBuffer holds one Invoke's encoded arguments and lent result space.
type invokeBuffer struct {
	args, result []byte
}

var invokeBuffers = sync.Pool{New: func() any {
	return &invokeBuffer{args: make([]byte, 0, 128), result: make([]byte, 0, 512)}
}}

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
