package pyhost

import (
	"errors"
	"fmt"

	"pyhost.dev/pyhost/internal/capi"
)

// Sentinel errors; every error from this package that has a class wraps one
// of them, so callers test with errors.Is.
var (
	// ErrPythonUnavailable: the engine or libpython could not be loaded. The
	// message says which library and why.
	ErrPythonUnavailable = errors.New("pyhost: Python is unavailable")
	// ErrShutdown: the runtime was closed.
	ErrShutdown = errors.New("pyhost: runtime is shut down")
	// ErrClosed: the object was closed.
	ErrClosed = errors.New("pyhost: object is closed")
	// ErrInvalidArgument: bad input (bad JSON, empty names, NUL in strings…).
	ErrInvalidArgument = errors.New("pyhost: invalid argument")
	// ErrInvalidHandle: a stale or foreign handle reached the library.
	ErrInvalidHandle = errors.New("pyhost: invalid handle")
	// ErrBusy: the check is already running.
	ErrBusy = errors.New("pyhost: check is already running")
	// ErrConflict: e.g. a duplicate check id, or a second Start naming another Python.
	ErrConflict = errors.New("pyhost: conflict")
	// ErrTimeout: shutdown timed out with calls still in flight.
	ErrTimeout = errors.New("pyhost: timed out")
	// ErrCancelled: the check run was cancelled (context done, or shutdown).
	ErrCancelled = errors.New("pyhost: check run cancelled")
	// ErrABIMismatch: the library and this package disagree on the ABI.
	ErrABIMismatch = errors.New("pyhost: ABI version mismatch")
	// ErrInternal: a bug in pyhost (a caught panic).
	ErrInternal = errors.New("pyhost: internal error")
)

// PythonError is a Python exception: its type (qualified, e.g.
// "ValueError" or "mycheck.FetchError"), message and formatted traceback.
type PythonError struct {
	Type      string
	Message   string
	Traceback string
}

func (e *PythonError) Error() string {
	if e.Message == "" {
		return "python: " + e.Type
	}
	return fmt.Sprintf("python: %s: %s", e.Type, e.Message)
}

// Error is a failed call with its class (one of the sentinels above).
type Error struct {
	Op    string // what was being done, e.g. "load check class"
	Class error  // a sentinel
	Msg   string
}

func (e *Error) Error() string { return fmt.Sprintf("pyhost: %s: %s", e.Op, e.Msg) }

// Unwrap lets errors.Is match the class.
func (e *Error) Unwrap() error { return e.Class }

// wrapErr turns a capi error into this package's errors.
func wrapErr(op string, err error) error {
	var ce *capi.Error
	if !errors.As(err, &ce) {
		return err
	}
	if ce.Status == capi.StatusPythonException {
		return &PythonError{Type: ce.Type, Message: ce.Message, Traceback: ce.Traceback}
	}
	class := map[uint32]error{
		capi.StatusInvalidArgument:   ErrInvalidArgument,
		capi.StatusInvalidHandle:     ErrInvalidHandle,
		capi.StatusPythonUnavailable: ErrPythonUnavailable,
		capi.StatusShutdown:          ErrShutdown,
		capi.StatusBusy:              ErrBusy,
		capi.StatusABIMismatch:       ErrABIMismatch,
		capi.StatusConflict:          ErrConflict,
		capi.StatusPanic:             ErrInternal,
		capi.StatusTimeout:           ErrTimeout,
	}[ce.Status]
	if class == nil {
		class = ErrInternal
	}
	return &Error{Op: op, Class: class, Msg: ce.Message}
}
