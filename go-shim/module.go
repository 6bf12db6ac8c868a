package pyhost

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"

	"pyhost.dev/pyhost/internal/capi"
)

// DefineModule makes a Python module of Go functions: after it, Python code
// does `import name` and calls `name.f(...)` for each entry of funcs, which
// must be a Go func. Arguments and results map as the value encoding does
// (see ValueError's package notes in value.go and docs/extending.md):
//
//   - an optional first parameter context.Context is cancelled when the
//     check run (or Invoke) that called is cancelled, or the runtime closes;
//   - the last parameter may be variadic (...T takes the remaining
//     arguments);
//   - at most one result besides an optional last error; a non-nil error
//     raises pyhost.GoError carrying its message;
//   - a panic raises pyhost.GoPanic with the panic value, and the process
//     carries on;
//   - a wrong argument count or type raises TypeError naming the argument,
//     an integer out of the parameter's range OverflowError.
//
// The functions run on the Python thread that called them, with the GIL
// released: they may block, and may call into Python again (Invoke, Call,
// checks). A name already defined, or one an import would find (a module
// on sys.path, a builtin), is refused with ErrConflict. Once the runtime
// has closed, the module's functions raise RuntimeError, its name is free
// again, and it leaves sys.modules with the rest of what the runtime owns.
func (rt *Runtime) DefineModule(name string, funcs map[string]any) error {
	rid, err := rt.handle()
	if err != nil {
		return err
	}
	names := slices.Sorted(mapKeys(funcs))
	fns := make([]*hostFunc, len(names))
	for i, n := range names {
		f, err := newHostFunc(rt, name+"."+n, funcs[n])
		if err != nil {
			return &Error{Op: "define module " + name, Class: ErrInvalidArgument, Msg: err.Error()}
		}
		fns[i] = f
	}
	answer := func(function uint32, token uint64, args, out []byte) ([]byte, uint32) {
		// Whoever holds the gate is out of Python now (see gate.Open).
		calls.Open()
		if int(function) >= len(fns) {
			return append(out, "pyhost: no such function"...), capi.HostTypeError
		}
		return fns[function].answer(token, args, out)
	}
	panicked := func(function uint32, value any, stack []byte) {
		qualname := name
		if int(function) < len(fns) {
			qualname = fns[function].name
		}
		rt.logger.Error("a Go function called from Python panicked", "function", qualname,
			"panic", fmt.Sprint(value), "stack", string(stack))
	}
	id, err := capi.DefineModule(rid, name, names, answer, panicked)
	if err != nil {
		return wrapErr("define module "+name, err)
	}
	rt.modules.Lock()
	rt.moduleIDs = append(rt.moduleIDs, id)
	rt.modules.Unlock()
	return nil
}

// Contexts of the host calls in flight, by token: a Go function that takes
// a context gets the one of the check run or Invoke that called it. Only
// kept once some Go function takes a context.
var (
	callTokens  atomic.Uint64
	hostCallsMu sync.RWMutex
	hostCalls   = map[uint64]*hostCall{}
	ctxFuncsSet atomic.Bool
)

// hostCall is a host call in flight (a check run, an Invoke) whose Go
// functions may ask for its context. The context they share is derived
// only when the first of them asks: most calls never need one, and a run
// then costs a map entry rather than a context tied to its parent.
type hostCall struct {
	parent context.Context
	mu     sync.Mutex
	ctx    context.Context // derived from parent at the first ask
	cancel context.CancelFunc
	ended  bool // cancelled (Check.Cancel) or returned
}

// context is the call's context for its Go functions.
func (h *hostCall) context() context.Context {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ctx == nil {
		h.ctx, h.cancel = context.WithCancel(h.parent)
		if h.ended {
			h.cancel()
		}
	}
	return h.ctx
}

// end cancels the context its Go functions got, if any (the call returned
// or is being stopped).
func (h *hostCall) end() {
	h.mu.Lock()
	h.ended = true
	if h.cancel != nil {
		h.cancel()
	}
	h.mu.Unlock()
}

// leave unregisters the call and ends it; nil (nothing registered) is a
// no-op.
func (h *hostCall) leave(token uint64) {
	if h == nil {
		return
	}
	hostCallsMu.Lock()
	delete(hostCalls, token)
	hostCallsMu.Unlock()
	h.end()
}

func lookupCall(token uint64) *hostCall {
	hostCallsMu.RLock()
	defer hostCallsMu.RUnlock()
	return hostCalls[token]
}

// nextToken numbers a host call; unique in the process.
func nextToken() uint64 { return callTokens.Add(1) }

func noop() {}

// within registers host call token, made with ctx, when a Go function
// could ask for its context; the caller calls leave(token) on what it
// returns when the call returns.
func within(token uint64, ctx context.Context) *hostCall {
	if !ctxFuncsSet.Load() {
		return nil
	}
	h := &hostCall{parent: ctx}
	hostCallsMu.Lock()
	hostCalls[token] = h
	hostCallsMu.Unlock()
	return h
}

// callToken numbers a typed call whose context Go functions it calls get
// (see within); 0, and nothing registered, while no Go function takes a
// context.
func callToken(ctx context.Context) (uint64, *hostCall) {
	if !ctxFuncsSet.Load() {
		return 0, nil
	}
	token := nextToken()
	return token, within(token, ctx)
}

// cancelCall cancels the context Go functions called by host call token got
// (Check.Cancel: the run is being stopped).
func cancelCall(token uint64) {
	if h := lookupCall(token); h != nil {
		h.end()
	}
}

var contextType = reflect.TypeFor[context.Context]()
var errorType = reflect.TypeFor[error]()

// hostFunc is one Go function as Python calls it.
type hostFunc struct {
	rt       *Runtime
	name     string // "module.function"
	fn       reflect.Value
	sig      reflect.Type
	takesCtx bool
	params   []reflect.Type // after the context
	variadic bool
	result   reflect.Type // nil: none (the Python call returns None)
	errLast  bool
	// direct is set for signatures called without reflection.
	direct func() error
}

func newHostFunc(rt *Runtime, name string, f any) (*hostFunc, error) {
	fv := reflect.ValueOf(f)
	if fv.Kind() != reflect.Func || fv.IsNil() {
		return nil, fmt.Errorf("%s: %T is not a Go func", name, f)
	}
	t := fv.Type()
	h := &hostFunc{rt: rt, name: name, fn: fv, sig: t, variadic: t.IsVariadic()}
	for i := range t.NumIn() {
		p := t.In(i)
		if i == 0 && p == contextType {
			h.takesCtx = true
			continue
		}
		if h.variadic && i == t.NumIn()-1 {
			p = p.Elem()
		}
		if err := supported(p); err != nil {
			return nil, fmt.Errorf("%s: parameter %d: %w", name, i+1, err)
		}
		h.params = append(h.params, t.In(i))
	}
	outs := t.NumOut()
	if outs > 0 && t.Out(outs-1) == errorType {
		h.errLast = true
		outs--
	}
	switch outs {
	case 0:
	case 1:
		if err := supported(t.Out(0)); err != nil {
			return nil, fmt.Errorf("%s: result: %w", name, err)
		}
		h.result = t.Out(0)
	default:
		return nil, fmt.Errorf("%s: %s returns %d values; a Go function for Python returns at most one (and an error)", name, t, outs)
	}
	switch g := f.(type) {
	case func():
		h.direct = func() error { g(); return nil }
	case func() error:
		h.direct = g
	}
	if h.takesCtx {
		ctxFuncsSet.Store(true)
	}
	return h, nil
}

// supported reports whether values of t can cross.
func supported(t reflect.Type) error {
	return supportedAt(t, 0)
}

func supportedAt(t reflect.Type, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("Go type %s nests too deep", t)
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return nil
	case reflect.Interface:
		if t.NumMethod() == 0 {
			return nil
		}
	case reflect.Slice, reflect.Array:
		return supportedAt(t.Elem(), depth+1)
	case reflect.Map:
		if t.Key().Kind() == reflect.String {
			return supportedAt(t.Elem(), depth+1)
		}
	case reflect.Pointer:
		if t == bigIntType {
			return nil
		}
		return supportedAt(t.Elem(), depth+1)
	}
	return fmt.Errorf("Go type %s cannot cross to Python (nil, bool, numbers, string, []byte, slices, map[string]T, *big.Int and any do)", t)
}

// callError is a failed call as Python will raise it.
type callError struct {
	status uint32
	msg    string
}

func (h *hostFunc) fail(status uint32, format string, args ...any) *callError {
	return &callError{status: status, msg: fmt.Sprintf(format, args...)}
}

// noArguments is the encoding of an empty argument list.
var noArguments = string([]byte{capi.ValueList, 0, 0, 0, 0})

// answer runs the function for one Python call. A panic is recovered by the
// caller (package capi), which raises GoPanic.
func (h *hostFunc) answer(token uint64, args, out []byte) ([]byte, uint32) {
	if h.direct != nil && string(args) == noArguments {
		if err := h.direct(); err != nil {
			return append(out, errorText(err)...), capi.HostError
		}
		return append(out, capi.ValueNone), capi.HostOK
	}
	d := decoder{b: args}
	t, err := d.tag()
	if err != nil || t != capi.ValueList {
		return append(out, "pyhost: the arguments are not an encoded list"...), capi.HostValueError
	}
	n, err := d.count(1)
	if err != nil {
		return append(out, err.Error()...), capi.HostValueError
	}
	if h.direct != nil {
		if n != 0 {
			return append(out, h.arity(n)...), capi.HostTypeError
		}
		if err := h.direct(); err != nil {
			return append(out, errorText(err)...), capi.HostError
		}
		return append(out, capi.ValueNone), capi.HostOK
	}
	in, cleanup, cerr := h.arguments(token, &d, n)
	defer cleanup()
	if cerr != nil {
		return append(out, cerr.msg...), cerr.status
	}
	results := h.fn.Call(in)
	if h.errLast {
		if e := results[len(results)-1]; !e.IsNil() {
			return append(out, errorText(e.Interface().(error))...), capi.HostError
		}
	}
	if h.result == nil {
		return append(out, capi.ValueNone), capi.HostOK
	}
	e := encoder{buf: out}
	if err := e.reflect(results[0], 0); err != nil {
		return append(out[:0], fmt.Sprintf("%s returned a value that cannot cross to Python: %s", h.name, valueMessage(err))...), capi.HostValueError
	}
	return e.buf, capi.HostOK
}

func errorText(err error) string {
	if s := err.Error(); s != "" {
		return s
	}
	return fmt.Sprintf("%T", err)
}

// valueMessage is a ValueError's text without the package prefix: "msg",
// or "at [3]: msg".
func valueMessage(err error) string {
	var ve *ValueError
	if errors.As(err, &ve) {
		if ve.Path == "" {
			return ve.Msg
		}
		return "at " + ve.Path + ": " + ve.Msg
	}
	return err.Error()
}

func (h *hostFunc) arity(got int) string {
	want := len(h.params)
	plural := "s"
	if want == 1 {
		plural = ""
	}
	if h.variadic {
		return fmt.Sprintf("%s() takes at least %d argument%s (Go %s), got %d", h.name, want-1, plural, h.sig, got)
	}
	return fmt.Sprintf("%s() takes %d argument%s (Go %s), got %d", h.name, want, plural, h.sig, got)
}

// arguments decodes the n Python arguments into the Go parameters.
func (h *hostFunc) arguments(token uint64, d *decoder, n int) ([]reflect.Value, func(), *callError) {
	cleanup := func() {}
	fixed := len(h.params)
	if h.variadic {
		fixed--
	}
	if n < fixed || (!h.variadic && n > fixed) {
		return nil, cleanup, &callError{capi.HostTypeError, h.arity(n)}
	}
	in := make([]reflect.Value, 0, n+1)
	if h.takesCtx {
		var ctx context.Context
		ctx, cleanup = h.rt.callContext(token)
		in = append(in, reflect.ValueOf(ctx))
	}
	for i := range n {
		p := h.params[min(i, len(h.params)-1)]
		if h.variadic && i >= fixed {
			p = h.params[len(h.params)-1].Elem()
		}
		v := reflect.New(p).Elem()
		if err := d.into(v, 0); err != nil {
			return nil, cleanup, h.argumentError(i+1, p, err)
		}
		in = append(in, v)
	}
	return in, cleanup, nil
}

func (h *hostFunc) argumentError(position int, p reflect.Type, err error) *callError {
	var ce *conversionError
	if errors.As(err, &ce) {
		status := capi.HostTypeError
		if ce.overflow {
			status = capi.HostOverflowError
		}
		return &callError{status, fmt.Sprintf("%s() argument %d%s (Go %s): %s", h.name, position, ce.path, p, ce.msg)}
	}
	return &callError{capi.HostValueError, fmt.Sprintf("%s() argument %d (Go %s): %v", h.name, position, p, err)}
}

// conversionError is a Python value that does not fit a Go parameter.
type conversionError struct {
	path     string
	msg      string
	overflow bool
}

func (e *conversionError) Error() string { return e.path + ": " + e.msg }

func mismatch(want string, got byte) error {
	return &conversionError{msg: fmt.Sprintf("must be %s, not %s", want, pythonType(got))}
}

func nestConversion(err error, segment string) error {
	if ce, ok := err.(*conversionError); ok {
		return &conversionError{path: segment + ce.path, msg: ce.msg, overflow: ce.overflow}
	}
	return err
}

// into decodes the next value into v (settable), converting as the Go type
// asks and failing with a conversionError when the value does not fit.
func (d *decoder) into(v reflect.Value, depth int) error {
	t, err := d.tag()
	if err != nil {
		return err
	}
	k := v.Kind()
	if t == capi.ValueNone {
		switch k {
		case reflect.Interface, reflect.Pointer, reflect.Slice, reflect.Map:
			return nil // stays nil
		}
		return mismatch(pythonName(v.Type()), t)
	}
	switch k {
	case reflect.Interface:
		x, err := d.anyAfter(t, depth)
		if err != nil {
			return err
		}
		v.Set(reflect.ValueOf(x))
		return nil
	case reflect.Bool:
		if t != capi.ValueTrue && t != capi.ValueFalse {
			return mismatch("bool", t)
		}
		v.SetBool(t == capi.ValueTrue)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := d.integer(t)
		if err != nil {
			return err
		}
		if !i.IsInt64() || v.OverflowInt(i.Int64()) {
			return overflow(i, v.Type())
		}
		v.SetInt(i.Int64())
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		i, err := d.integer(t)
		if err != nil {
			return err
		}
		if !i.IsUint64() || v.OverflowUint(i.Uint64()) {
			return overflow(i, v.Type())
		}
		v.SetUint(i.Uint64())
		return nil
	case reflect.Float32, reflect.Float64:
		var f float64
		switch t {
		case capi.ValueFloat:
			var err error
			if f, err = d.float(); err != nil {
				return err
			}
		case capi.ValueInt, capi.ValueUint, capi.ValueBigInt:
			i, err := d.integer(t)
			if err != nil {
				return err
			}
			f, _ = new(big.Float).SetInt(i).Float64()
		default:
			return mismatch("float", t)
		}
		if v.OverflowFloat(f) || math.IsInf(f, 0) {
			return &conversionError{msg: fmt.Sprintf("%g is out of range for Go %s", f, v.Type()), overflow: true}
		}
		v.SetFloat(f)
		return nil
	case reflect.String:
		if t != capi.ValueStr {
			return mismatch("str", t)
		}
		s, err := d.text()
		if err != nil {
			return err
		}
		v.SetString(s)
		return nil
	case reflect.Pointer:
		if v.Type() == bigIntType {
			i, err := d.integer(t)
			if err != nil {
				return err
			}
			v.Set(reflect.ValueOf(i))
			return nil
		}
		d.at-- // the pointee reads the tag again
		p := reflect.New(v.Type().Elem())
		if err := d.into(p.Elem(), depth+1); err != nil {
			return err
		}
		v.Set(p)
		return nil
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 && t == capi.ValueBytes {
			b, err := d.lenBytes()
			if err != nil {
				return err
			}
			if k == reflect.Array {
				if len(b) != v.Len() {
					return &conversionError{msg: fmt.Sprintf("must be %d bytes, not %d", v.Len(), len(b))}
				}
				reflect.Copy(v, reflect.ValueOf(b))
				return nil
			}
			v.SetBytes(slices.Clone(b))
			return nil
		}
		if t != capi.ValueList {
			return mismatch(pythonName(v.Type()), t)
		}
		if depth >= maxDepth {
			return tooDeep()
		}
		n, err := d.count(1)
		if err != nil {
			return err
		}
		if k == reflect.Array {
			if n != v.Len() {
				return &conversionError{msg: fmt.Sprintf("must have %d items, not %d", v.Len(), n)}
			}
		} else {
			v.Set(reflect.MakeSlice(v.Type(), n, n))
		}
		for i := range n {
			if err := d.into(v.Index(i), depth+1); err != nil {
				return nestConversion(err, fmt.Sprintf("[%d]", i))
			}
		}
		return nil
	case reflect.Map:
		if t != capi.ValueDict {
			return mismatch("dict", t)
		}
		if depth >= maxDepth {
			return tooDeep()
		}
		n, err := d.count(5)
		if err != nil {
			return err
		}
		m := reflect.MakeMapWithSize(v.Type(), n)
		elem := v.Type().Elem()
		for range n {
			key, err := d.text()
			if err != nil {
				return err
			}
			item := reflect.New(elem).Elem()
			if err := d.into(item, depth+1); err != nil {
				return nestConversion(err, fmt.Sprintf("[%q]", key))
			}
			m.SetMapIndex(reflect.ValueOf(key).Convert(v.Type().Key()), item)
		}
		v.Set(m)
		return nil
	}
	return &conversionError{msg: fmt.Sprintf("Go type %s cannot take a Python value", v.Type())}
}

// integer reads an int whose tag was t.
func (d *decoder) integer(t byte) (*big.Int, error) {
	switch t {
	case capi.ValueInt:
		u, err := d.u64()
		return big.NewInt(int64(u)), err
	case capi.ValueUint:
		u, err := d.u64()
		return new(big.Int).SetUint64(u), err
	case capi.ValueBigInt:
		b, err := d.lenBytes()
		if err != nil {
			return nil, err
		}
		i, ok := new(big.Int).SetString(string(b), 10)
		if !ok {
			return nil, &ValueError{Msg: "a big integer is not decimal digits"}
		}
		return i, nil
	}
	return nil, mismatch("int", t)
}

func overflow(i *big.Int, t reflect.Type) error {
	return &conversionError{msg: fmt.Sprintf("%s is out of range for Go %s", i, t), overflow: true}
}

// pythonName is the Python type a Go type takes, for messages.
func pythonName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "bool"
	case reflect.String:
		return "str"
	case reflect.Float32, reflect.Float64:
		return "float"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "bytes"
		}
		return "list"
	case reflect.Map:
		return "dict"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "int"
	}
	return t.String()
}

// callContext is the context a Go function called with token gets: the
// calling run's or Invoke's, cancelled also when the runtime closes; the
// runtime's own for a call from no host call (a thread Python started).
func (rt *Runtime) callContext(token uint64) (context.Context, func()) {
	h := lookupCall(token)
	if h == nil || token == 0 {
		return rt.base, noop
	}
	ctx, cancel := context.WithCancel(h.context())
	stop := context.AfterFunc(rt.base, cancel)
	return ctx, func() { stop(); cancel() }
}
