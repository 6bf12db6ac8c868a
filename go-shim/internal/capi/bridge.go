package capi

/*
#include <stdlib.h>
#include <string.h>
#include "pyhost.h"

extern uint32_t pyhostGoHostCall(size_t context, uint32_t function, uint64_t token, pyhost_str args, pyhost_host_result *result);

static pyhost_host_call pyhost_go_host_call(void) { return (pyhost_host_call)pyhostGoHostCall; }

// As pyhost_go_call_result: four words by value.
typedef struct {
	uint64_t status;
	size_t len;
	uint8_t *owned;
	uintptr_t aux;
} pyhost_go_invoke_result;

static pyhost_go_invoke_result pyhost_go_function_invoke(pyhost_runtime rt, pyhost_function fn, pyhost_str args, uint64_t token, uint64_t meter, pyhost_buffer scratch) {
	size_t len = 0;
	pyhost_bytes owned = {0};
	pyhost_error *error = NULL;
	pyhost_status status = pyhost_function_invoke(rt, fn, args, token, meter, scratch, &len, &owned, &error);
	pyhost_go_invoke_result r = {status, len, owned.ptr, status == PYHOST_STATUS_OK ? owned.cap : (uintptr_t)error};
	return r;
}

static pyhost_error *pyhost_go_invoke_error(uintptr_t aux) { return (pyhost_error *)aux; }
*/
import "C"

import (
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Value encoding tags (see pyhost.h).
const (
	ValueNone     = byte(C.PYHOST_VALUE_NONE)
	ValueFalse    = byte(C.PYHOST_VALUE_FALSE)
	ValueTrue     = byte(C.PYHOST_VALUE_TRUE)
	ValueInt      = byte(C.PYHOST_VALUE_INT)
	ValueUint     = byte(C.PYHOST_VALUE_UINT)
	ValueBigInt   = byte(C.PYHOST_VALUE_BIGINT)
	ValueFloat    = byte(C.PYHOST_VALUE_FLOAT)
	ValueStr      = byte(C.PYHOST_VALUE_STR)
	ValueBytes    = byte(C.PYHOST_VALUE_BYTES)
	ValueList     = byte(C.PYHOST_VALUE_LIST)
	ValueDict     = byte(C.PYHOST_VALUE_DICT)
	ValueEncoded  = byte(C.PYHOST_VALUE_ENCODED)
	ValueMaxDepth = int(C.PYHOST_VALUE_MAX_DEPTH)
)

// What a host function returned (pyhost_host_status).
const (
	HostOK            = uint32(C.PYHOST_HOST_OK)
	HostError         = uint32(C.PYHOST_HOST_ERROR)
	HostPanic         = uint32(C.PYHOST_HOST_PANIC)
	HostTypeError     = uint32(C.PYHOST_HOST_TYPE_ERROR)
	HostOverflowError = uint32(C.PYHOST_HOST_OVERFLOW_ERROR)
	HostValueError    = uint32(C.PYHOST_HOST_VALUE_ERROR)
	HostShutDown      = uint32(C.PYHOST_HOST_SHUT_DOWN)
)

// HostModule answers the calls of one defined module's functions: function
// is the index of the name, token the calling host call's, args one encoded
// list (C memory, valid only during the call). It appends the encoded
// result, or an error's text, to out (whose spare capacity is C memory
// lent for the call) and returns a Host* status.
type HostModule func(function uint32, token uint64, args []byte, out []byte) ([]byte, uint32)

// HostPanicked is told of a panic in a module's answer (the function's
// index, the panic value and its stack); the call then raises GoPanic.
type HostPanicked func(function uint32, value any, stack []byte)

type hostModule struct {
	answer   HostModule
	panicked HostPanicked
}

// hostModules is indexed by the module's context number: read on every
// call with one atomic load, replaced whole (copy on write) when a module
// is defined or dropped.
var (
	hostModulesMu sync.Mutex
	hostModules   atomic.Pointer[[]*hostModule]
)

// reportPanic hands a Go function's panic to its module's report (which
// logs it through the user's handler). A panic in the report itself ends
// here: nothing may unwind into the Python and Rust frames below, which
// would skip restoring their state.
func reportPanic(report HostPanicked, function uint32, r any) {
	defer recoverCallback("the report of a Go function's panic")
	report(function, r, debug.Stack())
}

// DefineModule calls pyhost_module_define, with answer serving the calls,
// and returns the number answer is registered under.
func DefineModule(rt uint64, name string, functions []string, answer HostModule, panicked HostPanicked) (uintptr, error) {
	hostModulesMu.Lock()
	var next []*hostModule
	if cur := hostModules.Load(); cur != nil {
		next = append(next, (*cur)...)
	}
	if len(next) == 0 {
		next = append(next, nil) // context 0 is never a module
	}
	id := uintptr(len(next))
	next = append(next, &hostModule{answer: answer, panicked: panicked})
	hostModules.Store(&next)
	hostModulesMu.Unlock()

	var frees []unsafe.Pointer
	defer func() { freeAll(frees) }()
	var names *C.pyhost_str
	if n := len(functions); n > 0 {
		names = (*C.pyhost_str)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(C.pyhost_str{}))))
		frees = append(frees, unsafe.Pointer(names))
		entries := unsafe.Slice(names, n)
		for i, f := range functions {
			entries[i] = cString(f, &frees)
		}
	}
	var err *C.pyhost_error
	status := C.pyhost_module_define(C.pyhost_runtime{id: C.uint64_t(rt)}, view(name), names, C.size_t(len(functions)), C.pyhost_go_host_call(), C.size_t(id), &err)
	if e := check(status, err); e != nil {
		UnregisterModule(id)
		return 0, e
	}
	return id, nil
}

// UnregisterModule forgets a module's answer, once its runtime is shut
// down (the engine calls no function of a shut-down runtime).
func UnregisterModule(id uintptr) {
	hostModulesMu.Lock()
	defer hostModulesMu.Unlock()
	cur := hostModules.Load()
	if cur == nil || int(id) >= len(*cur) {
		return
	}
	next := append([]*hostModule(nil), (*cur)...)
	next[id] = nil
	hostModules.Store(&next)
}

func findModule(id uintptr) *hostModule {
	if cur := hostModules.Load(); cur != nil && id < uintptr(len(*cur)) {
		return (*cur)[id]
	}
	return nil
}

// Publish calls pyhost_state_publish and returns the value's version.
func Publish(rt uint64, name string, value []byte) (uint64, error) {
	var version C.uint64_t
	var err *C.pyhost_error
	status := C.pyhost_state_publish(C.pyhost_runtime{id: C.uint64_t(rt)}, view(name), viewBytes(value), &version, &err)
	if e := check(status, err); e != nil {
		return 0, e
	}
	return uint64(version), nil
}

// InvokeFunction calls pyhost_function_invoke, appending the encoded result
// to dst; as CallFunction, dst's spare capacity is the scratch buffer.
func InvokeFunction(rt, fn uint64, args []byte, token, meter uint64, dst []byte) ([]byte, error) {
	spare := dst[len(dst):cap(dst)]
	var scratch C.pyhost_buffer
	if len(spare) > 0 && !overlaps(args, spare) {
		scratch = C.pyhost_buffer{ptr: (*C.uint8_t)(unsafe.Pointer(&spare[0])), cap: C.size_t(len(spare))}
	}
	r := C.pyhost_go_function_invoke(C.pyhost_runtime{id: C.uint64_t(rt)}, C.pyhost_function{id: C.uint64_t(fn)}, viewBytes(args), C.uint64_t(token), C.uint64_t(meter), scratch)
	if uint32(r.status) != StatusOK {
		return dst, check(C.pyhost_status(r.status), C.pyhost_go_invoke_error(r.aux))
	}
	if r.owned == nil {
		return dst[:len(dst)+int(r.len)], nil
	}
	return append(dst, takeBytes(C.pyhost_bytes{ptr: r.owned, len: r.len, cap: C.size_t(r.aux)})...), nil
}

// MeterUsage mirrors pyhost_meter_usage.
type MeterUsage struct {
	Calls, InFlight, WallNS, GILWaitNS, CPUNS, AllocatedBytes, RetainedBytes uint64
	Memory                                                                   bool
}

// NewMeter calls pyhost_meter_new.
func NewMeter(rt uint64) (uint64, error) {
	var meter C.uint64_t
	var err *C.pyhost_error
	status := C.pyhost_meter_new(C.pyhost_runtime{id: C.uint64_t(rt)}, &meter, &err)
	if e := check(status, err); e != nil {
		return 0, e
	}
	return uint64(meter), nil
}

// ReadMeter calls pyhost_meter_read.
func ReadMeter(rt, meter uint64) (MeterUsage, error) {
	var u C.pyhost_meter_usage
	var err *C.pyhost_error
	status := C.pyhost_meter_read(C.pyhost_runtime{id: C.uint64_t(rt)}, C.uint64_t(meter), &u, &err)
	if e := check(status, err); e != nil {
		return MeterUsage{}, e
	}
	return MeterUsage{Calls: uint64(u.calls), InFlight: uint64(u.in_flight), WallNS: uint64(u.wall_ns),
		GILWaitNS: uint64(u.gil_wait_ns), CPUNS: uint64(u.cpu_ns), AllocatedBytes: uint64(u.allocated_bytes),
		RetainedBytes: uint64(u.retained_bytes), Memory: u.memory != 0}, nil
}

// answerHostCall runs a module's answer and writes its result for C. A
// panic in it ends here (none may unwind into the engine) and becomes
// HostPanic with the panic value.
func answerHostCall(context uintptr, function uint32, token uint64, args C.pyhost_str, result *C.pyhost_host_result) (status uint32) {
	m := findModule(context)
	if m == nil {
		return writeHostResult(result, []byte("pyhost: the module's host is gone"), HostShutDown)
	}
	defer func() {
		if r := recover(); r != nil {
			if m.panicked != nil {
				reportPanic(m.panicked, function, r)
			}
			status = writeHostResult(result, []byte(fmt.Sprint(r)), HostPanic)
		}
	}()
	var in []byte
	if args.len > 0 {
		in = unsafe.Slice((*byte)(unsafe.Pointer(args.ptr)), int(args.len))
	}
	var lent []byte
	if result.ptr != nil && result.cap > 0 {
		lent = unsafe.Slice((*byte)(unsafe.Pointer(result.ptr)), int(result.cap))[:0]
	}
	out, status := m.answer(function, token, in, lent)
	if len(out) > 0 && cap(lent) > 0 && unsafe.SliceData(out) == unsafe.SliceData(lent) {
		// Written in place: the answer's appends stayed in the lent buffer.
		result.len = C.size_t(len(out))
		result.malloced = 0
		return status
	}
	return writeHostResult(result, out, status)
}

// writeHostResult puts out in the lent buffer if it fits, else in malloc'd
// memory the engine frees.
func writeHostResult(result *C.pyhost_host_result, out []byte, status uint32) uint32 {
	result.malloced = 0
	result.len = C.size_t(len(out))
	if len(out) == 0 {
		return status
	}
	if result.ptr != nil && len(out) <= int(result.cap) {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(result.ptr)), len(out)), out)
		return status
	}
	p := C.malloc(C.size_t(len(out)))
	if p == nil {
		result.len = 0
		return HostShutDown
	}
	copy(unsafe.Slice((*byte)(p), len(out)), out)
	result.ptr = (*C.uint8_t)(p)
	result.malloced = 1
	return status
}
