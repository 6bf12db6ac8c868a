// Package benchfloor is the floor the call benchmarks are measured against:
// a cgo call into C that does PyGILState_Ensure + a no-op Python call +
// PyGILState_Release, on a thread that keeps its Python thread state. It is
// what a hand-written C binding would cost, with no pyhost in the way.
//
// It links no libpython: the symbols are looked up in the process, where the
// pyhost engine loaded libpython globally, so a runtime must be started first.
package benchfloor

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>

typedef struct _object PyObject;

static int (*floor_ensure)(void);
static void (*floor_release)(int);
static void *(*floor_save)(void);
static PyObject *(*floor_import)(const char *);
static PyObject *(*floor_getattr)(PyObject *, const char *);
static PyObject *(*floor_call_noargs)(PyObject *);
static void (*floor_decref)(PyObject *);
static PyObject *floor_target;
static __thread int floor_kept;

static int floor_init(const char *module, const char *name) {
	floor_ensure = (int (*)(void))dlsym(RTLD_DEFAULT, "PyGILState_Ensure");
	floor_release = (void (*)(int))dlsym(RTLD_DEFAULT, "PyGILState_Release");
	floor_save = (void *(*)(void))dlsym(RTLD_DEFAULT, "PyEval_SaveThread");
	floor_import = (PyObject *(*)(const char *))dlsym(RTLD_DEFAULT, "PyImport_ImportModule");
	floor_getattr = (PyObject *(*)(PyObject *, const char *))dlsym(RTLD_DEFAULT, "PyObject_GetAttrString");
	floor_call_noargs = (PyObject *(*)(PyObject *))dlsym(RTLD_DEFAULT, "PyObject_CallNoArgs");
	floor_decref = (void (*)(PyObject *))dlsym(RTLD_DEFAULT, "Py_DecRef");
	if (!floor_ensure || !floor_release || !floor_save || !floor_import || !floor_getattr || !floor_call_noargs || !floor_decref)
		return -1;
	int g = floor_ensure();
	PyObject *m = floor_import(module);
	if (m) {
		floor_target = floor_getattr(m, name);
		floor_decref(m);
	}
	floor_release(g);
	return floor_target ? 0 : -2;
}

static int floor_call(void) {
	if (!floor_kept) {
		// Keep this thread's state alive across calls, as pyhost does.
		floor_ensure();
		floor_save();
		floor_kept = 1;
	}
	int g = floor_ensure();
	PyObject *r = floor_call_noargs(floor_target);
	if (r)
		floor_decref(r);
	floor_release(g);
	return r ? 0 : -1;
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Init looks up module.name (a function taking no arguments) for Call.
func Init(module, name string) error {
	m, n := C.CString(module), C.CString(name)
	defer C.free(unsafe.Pointer(m))
	defer C.free(unsafe.Pointer(n))
	if rc := C.floor_init(m, n); rc != 0 {
		return fmt.Errorf("benchfloor: init failed (%d): is a pyhost runtime started?", rc)
	}
	return nil
}

// Call makes one floor call.
func Call() error {
	if C.floor_call() != 0 {
		return fmt.Errorf("benchfloor: the call raised")
	}
	return nil
}
