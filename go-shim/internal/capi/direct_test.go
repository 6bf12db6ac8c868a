package capi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
	"unsafe"
)

func strDirect(s string) Direct {
	return Direct{Tag: ValueStr, Ptr: unsafe.StringData(s), Len: len(s)}
}

func bytesDirect(tag byte, b []byte) Direct {
	return Direct{Tag: tag, Ptr: unsafe.SliceData(b), Len: len(b)}
}

func encodedStr(s string) []byte {
	return append(binary.LittleEndian.AppendUint32([]byte{ValueStr}, uint32(len(s))), s...)
}

// startWith opens a runtime (shut down after the test) and loads
// module.name.
func startWith(t *testing.T, module, name string) (rt, fn uint64) {
	t.Helper()
	rt, err := Start(StartOptions{PythonPath: []string{testdata()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Shutdown(rt, 1000) })
	if fn, err = LoadFunction(rt, module, name); err != nil {
		t.Fatal(err)
	}
	return rt, fn
}

// TestDirectCallsPassValuesInPlace sends every kind of direct argument to
// copy.copy (which returns what it is given) and checks each result: a
// scalar in place, anything else encoded, in the scratch buffer when it
// fits and handed over when it does not.
func TestDirectCallsPassValuesInPlace(t *testing.T) {
	rt, same := startWith(t, "copy", "copy")
	call := func(arg Direct, scratch []byte) (byte, uint64, []byte, error) {
		args := DirectArgs{N: 1, V: [2]Direct{arg}}
		return InvokeDirect(rt, same, &args, 0, 0, scratch)
	}
	for _, c := range []struct {
		arg  Direct
		tag  byte
		bits uint64
	}{
		{Direct{Tag: ValueNone}, ValueNone, 0},
		{Direct{Tag: ValueFalse}, ValueFalse, 0},
		{Direct{Tag: ValueTrue}, ValueTrue, 0},
		{Direct{Tag: ValueInt, Bits: uint64(math.MaxUint64 - 4)}, ValueInt, uint64(math.MaxUint64 - 4)}, // -5
		{Direct{Tag: ValueFloat, Bits: math.Float64bits(2.5)}, ValueFloat, math.Float64bits(2.5)},
	} {
		tag, bits, out, err := call(c.arg, nil)
		if err != nil || tag != c.tag || bits != c.bits || out != nil {
			t.Errorf("copy(%+v) = tag %d, bits %#x, %x, %v; want tag %d, bits %#x", c.arg, tag, bits, out, err, c.tag, c.bits)
		}
	}
	// Results that are not scalars come back encoded.
	big := binary.LittleEndian.AppendUint64([]byte{ValueUint}, 1<<63)
	for _, c := range []struct {
		arg  Direct
		want []byte
	}{
		{Direct{Tag: ValueUint, Bits: 1 << 63}, big},
		{strDirect("index.php"), encodedStr("index.php")},
		{strDirect("ünïcødé"), encodedStr("ünïcødé")},
		{strDirect(strings.Repeat("long ", 40)), encodedStr(strings.Repeat("long ", 40))},
		{bytesDirect(ValueBytes, []byte{0, 1, 2}), []byte{ValueBytes, 3, 0, 0, 0, 0, 1, 2}},
		{bytesDirect(ValueEncoded, []byte{ValueList, 1, 0, 0, 0, ValueNone}), []byte{ValueList, 1, 0, 0, 0, ValueNone}},
	} {
		for _, room := range []int{0, 2, 512} {
			scratch := make([]byte, 0, room)
			tag, _, out, err := call(c.arg, scratch)
			if err != nil || tag != ValueEncoded || !bytes.Equal(out, c.want) {
				t.Errorf("copy(%+v) with %d bytes of scratch = tag %d, %x, %v; want %x", c.arg, room, tag, out, err, c.want)
				continue
			}
			if inScratch := room >= len(c.want); inScratch != (room > 0 && unsafe.SliceData(out) == unsafe.SliceData(scratch[:1])) {
				t.Errorf("copy(%+v) with %d bytes of scratch: the result in the scratch buffer: %v", c.arg, room, !inScratch)
			}
		}
	}
	// The same short strings, again and again: shared, and still right.
	for i := range 2000 {
		s := "key-" + string(rune('a'+i%26)) + string(rune('a'+i%7))
		_, _, out, err := call(strDirect(s), make([]byte, 0, 64))
		if err != nil || !bytes.Equal(out, encodedStr(s)) {
			t.Fatalf("copy(%q) = %x, %v", s, out, err)
		}
	}
}

// TestDirectCallsRefuseBadArguments: each bad argument is INVALID_ARGUMENT
// naming what is wrong, never a crash.
func TestDirectCallsRefuseBadArguments(t *testing.T) {
	rt, add := startWith(t, "benchmod", "add")
	deep := []byte{}
	for range 1000 {
		deep = append(deep, ValueList, 1, 0, 0, 0)
	}
	deep = append(deep, ValueNone)
	one := Direct{Tag: ValueInt, Bits: 1}
	for _, c := range []struct {
		arg  Direct
		want string
	}{
		{Direct{Tag: ValueStr, Len: 3}, "argument 2: NULL bytes with a non-zero length"},
		{Direct{Tag: 200}, "argument 2: not a pyhost value: unknown value tag 200"},
		{Direct{Tag: ValueFloat, Bits: math.Float64bits(math.NaN())}, "argument 2: not a pyhost value: a float is NaN or infinite"},
		{Direct{Tag: ValueFloat, Bits: math.Float64bits(math.Inf(1))}, "NaN or infinite"},
		{strDirect("\xc3\x28"), "argument 2: not a pyhost value: a string is not valid UTF-8"},
		{bytesDirect(ValueEncoded, []byte{ValueStr, 9, 0, 0, 0, 'a'}), "cut short"},
		{bytesDirect(ValueEncoded, []byte{ValueNone, ValueNone}), "bytes follow the value"},
		{bytesDirect(ValueEncoded, deep), "deeper than"},
		{Direct{Tag: ValueEncoded}, "cut short"},
	} {
		args := DirectArgs{N: 2, V: [2]Direct{one, c.arg}}
		_, _, _, err := InvokeDirect(rt, add, &args, 0, 0, nil)
		if status(err) != StatusInvalidArgument || !strings.Contains(err.Error(), c.want) {
			t.Errorf("add(1, %+v): %v; want INVALID_ARGUMENT with %q", c.arg, err, c.want)
		}
	}
	// A Python exception is a Python error, with the arguments made.
	args := DirectArgs{N: 2, V: [2]Direct{one, strDirect("x")}}
	var pyErr *Error
	if _, _, _, err := InvokeDirect(rt, add, &args, 0, 0, nil); !errors.As(err, &pyErr) || pyErr.Status != StatusPythonException || pyErr.Type != "TypeError" {
		t.Errorf("add(1, 'x'): %v", err)
	}
	// Stale handles and unknown meters are refused as on every call.
	args = DirectArgs{N: 2, V: [2]Direct{one, one}}
	if _, _, _, err := InvokeDirect(rt, add, &args, 0, 0xdeadbeef, nil); status(err) != StatusInvalidHandle {
		t.Errorf("an unknown meter: %v", err)
	}
	if _, _, _, err := InvokeDirect(rt+1, add, &args, 0, 0, nil); status(err) != StatusInvalidHandle {
		t.Errorf("a forged runtime: %v", err)
	}
}
