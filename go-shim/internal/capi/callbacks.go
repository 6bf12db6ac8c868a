package capi

/*
#include "pyhost.h"
*/
import "C"

import (
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"unsafe"
)

// LogRecord is one Python log record.
type LogRecord struct {
	Level   int
	Logger  string
	CheckID string
	Message string
}

// MetricCall is one metric delivered by the per-metric callback.
type MetricCall struct {
	CheckID  string
	Type     int
	Name     string
	Value    float64
	Tags     []string
	Hostname string
}

// Callbacks are registered under a number that C carries back; C never
// keeps a Go pointer. A number whose receiver is gone is ignored.
var (
	mu        sync.RWMutex
	nextID    uintptr
	logSinks  = map[uintptr]func(LogRecord){}
	metricRcv = map[uintptr]func(MetricCall){}
)

// RegisterLog registers a log receiver and returns its context number.
func RegisterLog(f func(LogRecord)) uintptr {
	mu.Lock()
	defer mu.Unlock()
	nextID++
	logSinks[nextID] = f
	return nextID
}

// RegisterMetric registers a per-metric receiver (comparison benchmarks).
func RegisterMetric(f func(MetricCall)) uintptr {
	mu.Lock()
	defer mu.Unlock()
	nextID++
	metricRcv[nextID] = f
	return nextID
}

// Unregister forgets a receiver; later calls for it are dropped.
func Unregister(id uintptr) {
	mu.Lock()
	defer mu.Unlock()
	delete(logSinks, id)
	delete(metricRcv, id)
}

// callbackPanics counts panics recovered in callbacks.
var callbackPanics atomic.Uint64

// CallbackPanics is how many panics callbacks have recovered so far.
func CallbackPanics() uint64 { return callbackPanics.Load() }

// recoverCallback ends a panic in a Go callback here: it must not unwind
// into the C and Rust frames below (they would skip their cleanup, and a
// panic crossing C is undefined behaviour). What the callback was doing is
// dropped and the panic is reported on stderr, with its stack the first
// time: the callback may run on a thread no Go caller waits on (a Python
// thread logging), so there is nobody to re-panic in.
func recoverCallback(what string) {
	r := recover()
	if r == nil {
		return
	}
	if callbackPanics.Add(1) == 1 {
		fmt.Fprintf(os.Stderr, "pyhost: %s panicked, dropped: %v\n%s", what, r, debug.Stack())
	} else {
		fmt.Fprintf(os.Stderr, "pyhost: %s panicked, dropped: %v\n", what, r)
	}
}

//export pyhostGoLog
func pyhostGoLog(context C.size_t, level C.int32_t, logger, checkID, message C.pyhost_str) {
	defer recoverCallback("a log handler")
	mu.RLock()
	f := logSinks[uintptr(context)]
	mu.RUnlock()
	if f != nil {
		f(LogRecord{Level: int(level), Logger: goString(logger), CheckID: goString(checkID), Message: goString(message)})
	}
}

//export pyhostGoMetric
func pyhostGoMetric(context C.size_t, checkID C.pyhost_str, metricType C.int32_t, name C.pyhost_str, value C.double, tags *C.pyhost_str, tagsLen C.size_t, hostname C.pyhost_str) {
	defer recoverCallback("a metric receiver")
	mu.RLock()
	f := metricRcv[uintptr(context)]
	mu.RUnlock()
	if f == nil {
		return
	}
	call := MetricCall{CheckID: goString(checkID), Type: int(metricType), Name: goString(name), Value: float64(value), Hostname: goString(hostname)}
	if tagsLen > 0 {
		for _, t := range unsafe.Slice(tags, int(tagsLen)) {
			call.Tags = append(call.Tags, goString(t))
		}
	}
	f(call)
}

//export pyhostGoHostCall
func pyhostGoHostCall(context C.size_t, function C.uint32_t, token C.uint64_t, args C.pyhost_str, result *C.pyhost_host_result) C.uint32_t {
	return C.uint32_t(answerHostCall(uintptr(context), uint32(function), uint64(token), args, result))
}
