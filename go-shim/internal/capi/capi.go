// Package capi is the only place that speaks cgo: thin calls over the
// pyhost C API (rust-core/include/pyhost.h). It converts arguments and
// errors and nothing else; the public package builds the Go API on top.
//
// The library is found through pkg-config (pyhost.pc): in this checkout
// `make` writes target/pkgconfig/pyhost.pc and points PKG_CONFIG_PATH at
// it; `make install PREFIX=DIR` installs DIR/lib/pkgconfig/pyhost.pc.
package capi

/*
#cgo pkg-config: pyhost
#include <stdlib.h>
#include <string.h>
#include "pyhost.h"

extern void pyhostGoLog(size_t context, int32_t level, pyhost_str logger, pyhost_str check_id, pyhost_str message);
extern void pyhostGoMetric(size_t context, pyhost_str check_id, int32_t metric_type, pyhost_str name, double value, pyhost_str *tags, size_t tags_len, pyhost_str hostname);

// A call's out-values come back by value in four words. Go reads a struct
// of at most four words field by field; a bigger one it copies 16 bytes at
// a time across the 8-byte stores that wrote it, and each such load stalls
// the CPU on store forwarding (together, a tenth of a no-op call).
typedef struct {
	uint64_t status; // a pyhost_status
	size_t len;      // the result's length, in scratch or in owned
	uint8_t *owned;  // the result when it did not fit in scratch, else NULL
	uintptr_t aux;   // status OK: owned's capacity; else the pyhost_error *
} pyhost_go_call_result;

static pyhost_go_call_result pyhost_go_function_call(pyhost_runtime rt, pyhost_function fn, pyhost_str args, pyhost_buffer scratch) {
	size_t len = 0;
	pyhost_bytes owned = {0};
	pyhost_error *error = NULL;
	pyhost_status status = pyhost_function_call(rt, fn, args, scratch, &len, &owned, &error);
	pyhost_go_call_result r = {status, len, owned.ptr, status == PYHOST_STATUS_OK ? owned.cap : (uintptr_t)error};
	return r;
}

// A check run's batch comes back the same way: no out-values on Go's heap.
static pyhost_go_call_result pyhost_go_check_run(pyhost_runtime rt, pyhost_check chk, uint64_t run_id) {
	pyhost_bytes out = {0};
	pyhost_error *error = NULL;
	pyhost_status status = pyhost_check_run(rt, chk, run_id, &out, &error);
	pyhost_go_call_result r = {status, out.len, out.ptr, status == PYHOST_STATUS_OK ? out.cap : (uintptr_t)error};
	return r;
}

static pyhost_error *pyhost_go_call_error(uintptr_t aux) { return (pyhost_error *)aux; }

static pyhost_log_callback pyhost_go_log_callback(void) { return (pyhost_log_callback)pyhostGoLog; }
static pyhost_metric_callback pyhost_go_metric_callback(void) { return (pyhost_metric_callback)pyhostGoMetric; }
*/
import "C"

import (
	"unsafe"
)

// ABIVersion is the ABI version of the header this package was compiled with.
const ABIVersion = uint32(C.PYHOST_ABI_VERSION)

// Batch record kinds and magic (see pyhost.h).
const (
	BatchMagic        = uint32(C.PYHOST_BATCH_MAGIC)
	BatchMetric       = byte(C.PYHOST_BATCH_METRIC)
	BatchServiceCheck = byte(C.PYHOST_BATCH_SERVICE_CHECK)
	BatchEvent        = byte(C.PYHOST_BATCH_EVENT)
	BatchWarning      = byte(C.PYHOST_BATCH_WARNING)
	BatchError        = byte(C.PYHOST_BATCH_ERROR)
	BatchCancelled    = byte(C.PYHOST_BATCH_CANCELLED)
	BatchHistBucket   = byte(C.PYHOST_BATCH_HISTOGRAM_BUCKET)
	BatchPlatformEvt  = byte(C.PYHOST_BATCH_PLATFORM_EVENT)
	BatchMetadata     = byte(C.PYHOST_BATCH_METADATA)
	BatchExternalTags = byte(C.PYHOST_BATCH_EXTERNAL_TAGS)
	BatchUsage        = byte(C.PYHOST_BATCH_USAGE)
	BatchSame         = uint32(C.PYHOST_BATCH_SAME)
	UsageCPUExact     = byte(C.PYHOST_USAGE_CPU_EXACT)
	UsageMemory       = byte(C.PYHOST_USAGE_MEMORY)
)

// Status codes (see pyhost.h).
const (
	StatusOK                = uint32(C.PYHOST_STATUS_OK)
	StatusInvalidArgument   = uint32(C.PYHOST_STATUS_INVALID_ARGUMENT)
	StatusInvalidHandle     = uint32(C.PYHOST_STATUS_INVALID_HANDLE)
	StatusPythonUnavailable = uint32(C.PYHOST_STATUS_PYTHON_UNAVAILABLE)
	StatusPythonException   = uint32(C.PYHOST_STATUS_PYTHON_EXCEPTION)
	StatusShutdown          = uint32(C.PYHOST_STATUS_SHUTDOWN)
	StatusBusy              = uint32(C.PYHOST_STATUS_BUSY)
	StatusABIMismatch       = uint32(C.PYHOST_STATUS_ABI_MISMATCH)
	StatusConflict          = uint32(C.PYHOST_STATUS_CONFLICT)
	StatusPanic             = uint32(C.PYHOST_STATUS_PANIC)
	StatusTimeout           = uint32(C.PYHOST_STATUS_TIMEOUT)
)

// Error is a failed call: the status and the owned error's fields, copied.
type Error struct {
	Status     uint32
	StatusName string
	Type       string
	Message    string
	Traceback  string
}

func (e *Error) Error() string { return e.StatusName + ": " + e.Message }

func goString(s C.pyhost_str) string {
	if s.len == 0 {
		return ""
	}
	return C.GoStringN((*C.char)(unsafe.Pointer(s.ptr)), C.int(s.len))
}

// check converts a status and its error out-value into a Go error and frees it.
func check(status C.pyhost_status, err *C.pyhost_error) error {
	if uint32(status) == StatusOK {
		return nil
	}
	e := &Error{Status: uint32(status), StatusName: goString(C.pyhost_status_name(C.uint32_t(status)))}
	if err != nil {
		e.Type = goString(err.type_name)
		e.Message = goString(err.message)
		e.Traceback = goString(err.traceback)
		C.pyhost_error_free(err)
	}
	return e
}

// view borrows a Go string for the duration of one call. The bytes hold no
// Go pointers, so passing them to C is allowed.
func view(s string) C.pyhost_str {
	if len(s) == 0 {
		return C.pyhost_str{}
	}
	return C.pyhost_str{ptr: (*C.uint8_t)(unsafe.Pointer(unsafe.StringData(s))), len: C.size_t(len(s))}
}

func viewBytes(b []byte) C.pyhost_str {
	if len(b) == 0 {
		return C.pyhost_str{}
	}
	return C.pyhost_str{ptr: (*C.uint8_t)(unsafe.Pointer(&b[0])), len: C.size_t(len(b))}
}

// cString copies a string into C memory, for structs passed by pointer (C
// may not receive Go memory that holds Go pointers).
func cString(s string, frees *[]unsafe.Pointer) C.pyhost_str {
	if len(s) == 0 {
		return C.pyhost_str{}
	}
	p := C.CBytes([]byte(s))
	*frees = append(*frees, p)
	return C.pyhost_str{ptr: (*C.uint8_t)(p), len: C.size_t(len(s))}
}

func freeAll(frees []unsafe.Pointer) {
	for _, p := range frees {
		C.free(p)
	}
}

// AbiVersion is the library's ABI version.
func AbiVersion() uint32 { return uint32(C.pyhost_abi_version()) }

// GILContention is the engine's count of calls that found the GIL held by
// another thread (pyhost_gil_contention), valid for good once a runtime has
// started; nil before. Read it with atomic.LoadUint32 only.
func GILContention() *uint32 {
	return (*uint32)(unsafe.Pointer(C.pyhost_gil_contention()))
}

// Version is the library's version.
func Version() string { return goString(C.pyhost_version()) }

// StartOptions mirrors pyhost_runtime_options.
type StartOptions struct {
	Engine, LibPython, Python string
	PythonPath                []string
	LogLevel                  int32
	LogContext                uintptr // 0: no log callback
	MetricContext             uintptr // 0: batch metrics (the normal way)
	DisableAccounting         bool
}

// Start calls pyhost_runtime_start.
func Start(o StartOptions) (uint64, error) {
	var frees []unsafe.Pointer
	defer func() { freeAll(frees) }()
	opts := (*C.pyhost_runtime_options)(C.calloc(1, C.size_t(unsafe.Sizeof(C.pyhost_runtime_options{}))))
	frees = append(frees, unsafe.Pointer(opts))
	opts.engine_path = cString(o.Engine, &frees)
	opts.libpython_path = cString(o.LibPython, &frees)
	opts.python_executable = cString(o.Python, &frees)
	if n := len(o.PythonPath); n > 0 {
		arr := (*C.pyhost_str)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(C.pyhost_str{}))))
		frees = append(frees, unsafe.Pointer(arr))
		entries := unsafe.Slice(arr, n)
		for i, p := range o.PythonPath {
			entries[i] = cString(p, &frees)
		}
		opts.python_path = arr
		opts.python_path_len = C.size_t(n)
	}
	opts.log_level = C.int32_t(o.LogLevel)
	if o.LogContext != 0 {
		opts.log_callback = C.pyhost_go_log_callback()
		opts.log_context = C.size_t(o.LogContext)
	}
	if o.MetricContext != 0 {
		opts.metric_callback = C.pyhost_go_metric_callback()
		opts.metric_context = C.size_t(o.MetricContext)
	}
	if o.DisableAccounting {
		opts.disable_accounting = 1
	}
	var rt C.pyhost_runtime
	var err *C.pyhost_error
	status := C.pyhost_runtime_start(opts, &rt, &err)
	if e := check(status, err); e != nil {
		return 0, e
	}
	return uint64(rt.id), nil
}

// Shutdown calls pyhost_runtime_shutdown.
func Shutdown(rt uint64, timeoutMillis uint64) error {
	var err *C.pyhost_error
	return check(C.pyhost_runtime_shutdown(C.pyhost_runtime{id: C.uint64_t(rt)}, C.uint64_t(timeoutMillis), &err), err)
}

// takeBytes copies an owned buffer into Go memory and frees it.
func takeBytes(b C.pyhost_bytes) []byte {
	if b.ptr == nil {
		return nil
	}
	out := C.GoBytes(unsafe.Pointer(b.ptr), C.int(b.len))
	C.pyhost_bytes_free(b)
	return out
}

// PythonInfo calls pyhost_runtime_python_info and returns its JSON.
func PythonInfo(rt uint64) ([]byte, error) {
	var out C.pyhost_bytes
	var err *C.pyhost_error
	if e := check(C.pyhost_runtime_python_info(C.pyhost_runtime{id: C.uint64_t(rt)}, &out, &err), err); e != nil {
		return nil, e
	}
	return takeBytes(out), nil
}

// LoadCheckClass calls pyhost_check_class_load.
func LoadCheckClass(rt uint64, source, className string) (uint64, error) {
	var out C.pyhost_check_class
	var err *C.pyhost_error
	status := C.pyhost_check_class_load(C.pyhost_runtime{id: C.uint64_t(rt)}, view(source), view(className), &out, &err)
	if e := check(status, err); e != nil {
		return 0, e
	}
	return uint64(out.id), nil
}

// FreeCheckClass calls pyhost_check_class_free.
func FreeCheckClass(rt, class uint64) error {
	var err *C.pyhost_error
	return check(C.pyhost_check_class_free(C.pyhost_runtime{id: C.uint64_t(rt)}, C.pyhost_check_class{id: C.uint64_t(class)}, &err), err)
}

// NewCheck calls pyhost_check_new.
func NewCheck(rt, class uint64, name, checkID string, initConfigJSON, instanceJSON []byte) (uint64, error) {
	var frees []unsafe.Pointer
	defer func() { freeAll(frees) }()
	config := (*C.pyhost_check_config)(C.calloc(1, C.size_t(unsafe.Sizeof(C.pyhost_check_config{}))))
	frees = append(frees, unsafe.Pointer(config))
	config.name = cString(name, &frees)
	config.check_id = cString(checkID, &frees)
	config.init_config_json = cString(string(initConfigJSON), &frees)
	config.instance_json = cString(string(instanceJSON), &frees)
	var out C.pyhost_check
	var err *C.pyhost_error
	status := C.pyhost_check_new(C.pyhost_runtime{id: C.uint64_t(rt)}, C.pyhost_check_class{id: C.uint64_t(class)}, config, &out, &err)
	if e := check(status, err); e != nil {
		return 0, e
	}
	return uint64(out.id), nil
}

// RunCheck calls pyhost_check_run (run runID) and hands the batch, still in
// C memory, to decode; the batch is freed when decode returns.
func RunCheck(rt, chk, runID uint64, decode func(batch []byte) error) error {
	r := C.pyhost_go_check_run(C.pyhost_runtime{id: C.uint64_t(rt)}, C.pyhost_check{id: C.uint64_t(chk)}, C.uint64_t(runID))
	if uint32(r.status) != StatusOK {
		return check(C.pyhost_status(r.status), C.pyhost_go_call_error(r.aux))
	}
	if r.owned == nil {
		return decode(nil)
	}
	out := C.pyhost_bytes{ptr: r.owned, len: r.len, cap: C.size_t(r.aux)}
	defer C.pyhost_bytes_free(out)
	return decode(unsafe.Slice((*byte)(unsafe.Pointer(r.owned)), int(r.len)))
}

// CancelCheck calls pyhost_check_cancel for run runID (0: the run in progress).
func CancelCheck(rt, chk, runID uint64) error {
	var err *C.pyhost_error
	return check(C.pyhost_check_cancel(C.pyhost_runtime{id: C.uint64_t(rt)}, C.pyhost_check{id: C.uint64_t(chk)}, C.uint64_t(runID), &err), err)
}

// FreeCheck calls pyhost_check_free.
func FreeCheck(rt, chk uint64) error {
	var err *C.pyhost_error
	return check(C.pyhost_check_free(C.pyhost_runtime{id: C.uint64_t(rt)}, C.pyhost_check{id: C.uint64_t(chk)}, &err), err)
}

// LoadFunction calls pyhost_function_load.
func LoadFunction(rt uint64, module, name string) (uint64, error) {
	var out C.pyhost_function
	var err *C.pyhost_error
	status := C.pyhost_function_load(C.pyhost_runtime{id: C.uint64_t(rt)}, view(module), view(name), &out, &err)
	if e := check(status, err); e != nil {
		return 0, e
	}
	return uint64(out.id), nil
}

// CallFunction calls pyhost_function_call, appending the JSON result to dst.
// The spare capacity of dst is the scratch buffer, so a result that fits
// costs no allocation and no second call.
func CallFunction(rt, fn uint64, args []byte, dst []byte) ([]byte, error) {
	spare := dst[len(dst):cap(dst)]
	var scratch C.pyhost_buffer
	// Arguments read from dst's spare capacity would be overwritten by the
	// result: the library refuses that, so such a call lends no scratch.
	if len(spare) > 0 && !overlaps(args, spare) {
		scratch = C.pyhost_buffer{ptr: (*C.uint8_t)(unsafe.Pointer(&spare[0])), cap: C.size_t(len(spare))}
	}
	r := C.pyhost_go_function_call(C.pyhost_runtime{id: C.uint64_t(rt)}, C.pyhost_function{id: C.uint64_t(fn)}, viewBytes(args), scratch)
	if uint32(r.status) != StatusOK {
		return dst, check(C.pyhost_status(r.status), C.pyhost_go_call_error(r.aux))
	}
	if r.owned == nil {
		return dst[:len(dst)+int(r.len)], nil
	}
	return append(dst, takeBytes(C.pyhost_bytes{ptr: r.owned, len: r.len, cap: C.size_t(r.aux)})...), nil
}

// overlaps reports whether two byte slices share memory.
func overlaps(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	pa, pb := uintptr(unsafe.Pointer(unsafe.SliceData(a))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return pa < pb+uintptr(len(b)) && pb < pa+uintptr(len(a))
}

// FreeFunction calls pyhost_function_free.
func FreeFunction(rt, fn uint64) error {
	var err *C.pyhost_error
	return check(C.pyhost_function_free(C.pyhost_runtime{id: C.uint64_t(rt)}, C.pyhost_function{id: C.uint64_t(fn)}, &err), err)
}
