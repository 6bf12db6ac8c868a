package capi

/*
#include "pyhost.h"

// A direct call's out-values in four words: the result's tag rides in the
// status word, and `bits` is a scalar result's bits or an encoded one's
// length.
typedef struct {
	uint64_t status; // a pyhost_status | the result's tag << 32
	uint64_t bits;
	uint8_t *owned;
	uintptr_t aux;
} pyhost_go_direct_result;

// Up to two arguments by value: no Go memory holds them, so nothing is
// allocated to pass them.
static pyhost_go_direct_result pyhost_go_function_invoke_direct(pyhost_runtime rt, pyhost_function fn, size_t count,
		uint8_t tag0, uint64_t bits0, const uint8_t *ptr0, size_t len0,
		uint8_t tag1, uint64_t bits1, const uint8_t *ptr1, size_t len1,
		uint64_t token, uint64_t meter, pyhost_buffer scratch) {
	pyhost_direct_value args[2] = {{tag0, bits0, ptr0, len0}, {tag1, bits1, ptr1, len1}};
	pyhost_direct_value value = {0};
	pyhost_bytes owned = {0};
	pyhost_error *error = NULL;
	pyhost_status status = pyhost_function_invoke_direct(rt, fn, args, count, token, meter, scratch, &value, &owned, &error);
	uint64_t bits = value.tag == PYHOST_VALUE_ENCODED ? (uint64_t)value.len : value.bits;
	pyhost_go_direct_result r = {(uint64_t)status | (uint64_t)value.tag << 32, bits, owned.ptr,
		status == PYHOST_STATUS_OK ? owned.cap : (uintptr_t)error};
	return r;
}

static pyhost_error *pyhost_go_direct_error(uintptr_t aux) { return (pyhost_error *)aux; }
*/
import "C"

import "unsafe"

// Direct is one argument of a direct typed call (pyhost_direct_value): a
// scalar in Bits, or a borrowed string or byte string at Ptr.
type Direct struct {
	Tag  byte
	Bits uint64
	Ptr  *byte
	Len  int
}

// DirectArgs are the arguments of a direct typed call: the first N of V.
type DirectArgs struct {
	N int
	V [2]Direct
}

// InvokeDirect calls pyhost_function_invoke_direct, lending scratch's
// capacity for an encoded result. A scalar result comes back as its tag
// and bits; any other has tag ValueEncoded and is out (in scratch's array
// when it fitted).
func InvokeDirect(rt, fn uint64, args *DirectArgs, token, meter uint64, scratch []byte) (tag byte, bits uint64, out []byte, err error) {
	var lent C.pyhost_buffer
	if cap(scratch) > 0 {
		lent = C.pyhost_buffer{ptr: (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(scratch[:1]))), cap: C.size_t(cap(scratch))}
	}
	a, b := &args.V[0], &args.V[1]
	r := C.pyhost_go_function_invoke_direct(C.pyhost_runtime{id: C.uint64_t(rt)}, C.pyhost_function{id: C.uint64_t(fn)}, C.size_t(args.N),
		C.uint8_t(a.Tag), C.uint64_t(a.Bits), (*C.uint8_t)(unsafe.Pointer(a.Ptr)), C.size_t(a.Len),
		C.uint8_t(b.Tag), C.uint64_t(b.Bits), (*C.uint8_t)(unsafe.Pointer(b.Ptr)), C.size_t(b.Len),
		C.uint64_t(token), C.uint64_t(meter), lent)
	if status := uint32(r.status); status != StatusOK {
		return 0, 0, nil, check(C.pyhost_status(status), C.pyhost_go_direct_error(r.aux))
	}
	tag = byte(r.status >> 32)
	if tag != ValueEncoded {
		return tag, uint64(r.bits), nil, nil
	}
	if r.owned == nil {
		return tag, 0, scratch[:r.bits], nil
	}
	return tag, 0, takeBytes(C.pyhost_bytes{ptr: r.owned, len: C.size_t(r.bits), cap: C.size_t(r.aux)}), nil
}
