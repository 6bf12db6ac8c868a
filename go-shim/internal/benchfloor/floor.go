// Package benchfloor holds the floors the call benchmarks are measured
// against: what hand-written C bindings cost, with no pyhost in the way.
//
//   - Call: a cgo call into C doing PyGILState_Ensure, a no-op Python call
//     and PyGILState_Release, on a thread that keeps its Python thread state.
//   - CallAdd: the same for add(2, 3): two PyLong_FromLongLong, the call,
//     PyLong_AsLongLong.
//   - InstallExtension: a C extension function (METH_NOARGS) that calls a
//     cgo-exported Go no-op, for Python to call in a loop.
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
static PyObject *(*floor_long)(long long);
static long long (*floor_as_long)(PyObject *);
static PyObject *(*floor_call_two)(PyObject *, ...);
static PyObject *(*floor_cfunction_new)(void *, PyObject *, PyObject *);
static int (*floor_setattr)(PyObject *, const char *, PyObject *);
static PyObject *(*floor_none)(void);
static void (*floor_incref)(PyObject *);
static PyObject *floor_target;
static PyObject *floor_add;
static __thread int floor_kept;

static void *floor_sym(const char *name, int *missing) {
	void *p = dlsym(RTLD_DEFAULT, name);
	if (!p)
		*missing = 1;
	return p;
}

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

static void floor_keep(void) {
	if (!floor_kept) {
		floor_ensure();
		floor_save();
		floor_kept = 1;
	}
}

// add(2, 3) as a C binding makes it: ints in, the call, an int out.
static int floor_init_add(const char *module, const char *name) {
	int missing = 0;
	floor_long = (PyObject * (*)(long long)) floor_sym("PyLong_FromLongLong", &missing);
	floor_as_long = (long long (*)(PyObject *))floor_sym("PyLong_AsLongLong", &missing);
	floor_call_two = (PyObject * (*)(PyObject *, ...)) floor_sym("PyObject_CallFunctionObjArgs", &missing);
	if (missing || !floor_ensure)
		return -1;
	int g = floor_ensure();
	PyObject *m = floor_import(module);
	if (m) {
		floor_add = floor_getattr(m, name);
		floor_decref(m);
	}
	floor_release(g);
	return floor_add ? 0 : -2;
}

static long long floor_call_add(long long a, long long b) {
	floor_keep();
	int g = floor_ensure();
	PyObject *x = floor_long(a), *y = floor_long(b);
	PyObject *r = floor_call_two(floor_add, x, y, NULL);
	long long out = -1;
	if (r) {
		out = floor_as_long(r);
		floor_decref(r);
	}
	floor_decref(x);
	floor_decref(y);
	floor_release(g);
	return out;
}

// The C extension: a METH_NOARGS builtin calling a Go no-op.
extern void benchfloorGoNoop(void);

typedef struct {
	const char *ml_name;
	void *ml_meth;
	int ml_flags;
	const char *ml_doc;
} floor_method_def;

static PyObject *floor_ext_noop(PyObject *self, PyObject *unused) {
	(void)self;
	(void)unused;
	benchfloorGoNoop();
	return floor_none();
}

static void *(*floor_save_thread)(void);
static void (*floor_restore_thread)(void *);

// The same, releasing the GIL around the Go call as Py_BEGIN_ALLOW_THREADS
// does, as a function that may block must: the floor of DefineModule's
// functions, which release it too.
static PyObject *floor_ext_noop_nogil(PyObject *self, PyObject *unused) {
	(void)self;
	(void)unused;
	void *ts = floor_save_thread();
	benchfloorGoNoop();
	floor_restore_thread(ts);
	return floor_none();
}

static PyObject *floor_none_value;
static PyObject *floor_get_none(void) {
	// Py_None, returned with a new reference as a C extension does.
	floor_incref(floor_none_value);
	return floor_none_value;
}

// 0x0004: METH_NOARGS
static floor_method_def floor_ext_def = {"c_noop", (void *)floor_ext_noop, 0x0004, "A C extension calling a Go no-op."};
static floor_method_def floor_ext_nogil_def = {"c_noop_nogil", (void *)floor_ext_noop_nogil, 0x0004, "The same, releasing the GIL."};

// Sets module.c_noop to the C extension function.
static int floor_install_extension(const char *module) {
	int missing = 0;
	floor_cfunction_new = (PyObject * (*)(void *, PyObject *, PyObject *)) floor_sym("PyCFunction_NewEx", &missing);
	floor_setattr = (int (*)(PyObject *, const char *, PyObject *))floor_sym("PyObject_SetAttrString", &missing);
	floor_incref = (void (*)(PyObject *))floor_sym("Py_IncRef", &missing);
	floor_none_value = (PyObject *)floor_sym("_Py_NoneStruct", &missing);
	floor_save_thread = (void *(*)(void))floor_sym("PyEval_SaveThread", &missing);
	floor_restore_thread = (void (*)(void *))floor_sym("PyEval_RestoreThread", &missing);
	if (missing || !floor_ensure)
		return -1;
	floor_none = floor_get_none;
	int g = floor_ensure();
	int rc = -2;
	PyObject *m = floor_import(module);
	if (m) {
		PyObject *f = floor_cfunction_new(&floor_ext_def, NULL, NULL);
		PyObject *g = floor_cfunction_new(&floor_ext_nogil_def, NULL, NULL);
		if (f && g) {
			rc = floor_setattr(m, "c_noop", f) | floor_setattr(m, "c_noop_nogil", g);
		}
		if (f)
			floor_decref(f);
		if (g)
			floor_decref(g);
		floor_decref(m);
	}
	floor_release(g);
	return rc;
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

// InitAdd looks up module.name (a function of two ints) for CallAdd.
func InitAdd(module, name string) error {
	m, n := C.CString(module), C.CString(name)
	defer C.free(unsafe.Pointer(m))
	defer C.free(unsafe.Pointer(n))
	if rc := C.floor_init_add(m, n); rc != 0 {
		return fmt.Errorf("benchfloor: init add failed (%d)", rc)
	}
	return nil
}

// CallAdd calls the function InitAdd looked up with (a, b).
func CallAdd(a, b int64) int64 {
	return int64(C.floor_call_add(C.longlong(a), C.longlong(b)))
}

// InstallExtension sets module.c_noop: a C extension function (METH_NOARGS)
// that calls a Go no-op; and module.c_noop_nogil, the same releasing the GIL
// around the Go call.
func InstallExtension(module string) error {
	m := C.CString(module)
	defer C.free(unsafe.Pointer(m))
	if rc := C.floor_install_extension(m); rc != 0 {
		return fmt.Errorf("benchfloor: install extension failed (%d)", rc)
	}
	return nil
}
