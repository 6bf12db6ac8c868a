package pyhost

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"

	"pyhost.dev/pyhost/internal/capi"
)

// The value encoding (docs/c-api.md): how typed values cross to Python and
// back, for DefineModule's functions, Publish and Invoke. Go values map to
// Python values as follows, in both directions:
//
//	nil (interface, pointer)      None
//	bool                          bool
//	int, int8 … uint64            int (out of a Go type's range: OverflowError)
//	*big.Int                      int beyond 64 bits
//	float32, float64              float (finite only: NaN and ±Inf are refused)
//	string (valid UTF-8)          str
//	[]byte                        bytes (bytearray too, from Python)
//	[]T, [N]T                     list (tuples too, from Python)
//	map[string]T                  dict with str keys (Go map keys sorted)
//	any                           any of these, recursively
//
// A nil slice or map crosses as an empty list or dict. Decoded into any,
// Python ints become int64 (uint64 above its range, *big.Int beyond 64
// bits), lists []any and dicts map[string]any.

// ValueError is a value that cannot cross between Go and Python: an
// unsupported Go type, invalid UTF-8, a NaN, or nesting deeper than 64.
type ValueError struct {
	Path string // where in the value, e.g. "[3].name"; empty at the top
	Msg  string
}

func (e *ValueError) Error() string {
	if e.Path == "" {
		return "pyhost: value: " + e.Msg
	}
	return "pyhost: value at " + e.Path + ": " + e.Msg
}

// Unwrap lets errors.Is(err, ErrInvalidArgument) match.
func (e *ValueError) Unwrap() error { return ErrInvalidArgument }

// maxDepth is how deep lists and dicts may nest (PYHOST_VALUE_MAX_DEPTH).
var maxDepth = capi.ValueMaxDepth

// encoder appends encoded values to buf.
type encoder struct {
	buf []byte
	// keys is scratch for sorting dict keys, used as a stack by nested
	// dicts: a pooled encoder sorts without allocating.
	keys []string
}

func (e *encoder) tag(t byte) { e.buf = append(e.buf, t) }

func (e *encoder) int(v int64) {
	e.buf = append(e.buf, capi.ValueInt)
	e.buf = binary.LittleEndian.AppendUint64(e.buf, uint64(v))
}

func (e *encoder) uint(v uint64) {
	if v <= math.MaxInt64 {
		e.int(int64(v))
		return
	}
	e.buf = append(e.buf, capi.ValueUint)
	e.buf = binary.LittleEndian.AppendUint64(e.buf, v)
}

func (e *encoder) float(v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return &ValueError{Msg: fmt.Sprintf("%v cannot cross to Python (only finite floats do)", v)}
	}
	e.buf = append(e.buf, capi.ValueFloat)
	e.buf = binary.LittleEndian.AppendUint64(e.buf, math.Float64bits(v))
	return nil
}

func (e *encoder) lenBytes(tag byte, b []byte) {
	e.buf = append(e.buf, tag)
	e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(len(b)))
	e.buf = append(e.buf, b...)
}

func (e *encoder) str(s string) error {
	if !utf8.ValidString(s) {
		return &ValueError{Msg: fmt.Sprintf("string %q is not valid UTF-8", truncate(s))}
	}
	if len(s) > math.MaxUint32 {
		return &ValueError{Msg: "a string of 4 GiB or more cannot cross"}
	}
	e.buf = append(e.buf, capi.ValueStr)
	e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(len(s)))
	e.buf = append(e.buf, s...)
	return nil
}

func (e *encoder) bytes(b []byte) error {
	if len(b) > math.MaxUint32 {
		return &ValueError{Msg: "a byte string of 4 GiB or more cannot cross"}
	}
	e.lenBytes(capi.ValueBytes, b)
	return nil
}

func (e *encoder) header(tag byte, n int) {
	e.buf = append(e.buf, tag)
	e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(n))
}

func (e *encoder) key(k string) error {
	if !utf8.ValidString(k) {
		return &ValueError{Msg: fmt.Sprintf("map key %q is not valid UTF-8", truncate(k))}
	}
	e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(len(k)))
	e.buf = append(e.buf, k...)
	return nil
}

func (e *encoder) bigInt(x *big.Int) {
	switch {
	case x == nil:
		e.tag(capi.ValueNone)
	case x.IsInt64():
		e.int(x.Int64())
	case x.IsUint64():
		e.uint(x.Uint64())
	default:
		e.lenBytes(capi.ValueBigInt, x.Append(nil, 10))
	}
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// at prefixes where in the value an error happened, as the error travels
// up: a path costs nothing unless there is an error.
func at(err error, segment string) error {
	if ve, ok := err.(*ValueError); ok {
		return &ValueError{Path: segment + ve.Path, Msg: ve.Msg}
	}
	return err
}

func atIndex(err error, i int) error { return at(err, fmt.Sprintf("[%d]", i)) }

func atKey(err error, k string) error { return at(err, fmt.Sprintf("[%q]", k)) }

// value appends v. The common types are switched on directly; the rest go
// through reflection.
func (e *encoder) value(v any, depth int) error {
	switch x := v.(type) {
	case nil:
		e.tag(capi.ValueNone)
	case bool:
		if x {
			e.tag(capi.ValueTrue)
		} else {
			e.tag(capi.ValueFalse)
		}
	case int:
		e.int(int64(x))
	case int64:
		e.int(x)
	case int32:
		e.int(int64(x))
	case int16:
		e.int(int64(x))
	case int8:
		e.int(int64(x))
	case uint:
		e.uint(uint64(x))
	case uint64:
		e.uint(x)
	case uint32:
		e.int(int64(x))
	case uint16:
		e.int(int64(x))
	case uint8:
		e.int(int64(x))
	case float64:
		return e.float(x)
	case float32:
		return e.float(float64(x))
	case string:
		return e.str(x)
	case []byte:
		return e.bytes(x)
	case *big.Int:
		e.bigInt(x)
	case []any:
		if depth >= maxDepth {
			return tooDeep()
		}
		e.header(capi.ValueList, len(x))
		for i, item := range x {
			if err := e.value(item, depth+1); err != nil {
				return atIndex(err, i)
			}
		}
	case map[string]any:
		if depth >= maxDepth {
			return tooDeep()
		}
		e.header(capi.ValueDict, len(x))
		base := len(e.keys)
		for k := range x {
			e.keys = append(e.keys, k)
		}
		keys := e.keys[base:]
		slices.Sort(keys)
		for _, k := range keys {
			if err := e.key(k); err != nil {
				return err
			}
			if err := e.value(x[k], depth+1); err != nil {
				return atKey(err, k)
			}
		}
		clear(keys) // drop the references: the scratch outlives the value
		e.keys = e.keys[:base]
	default:
		return e.reflect(reflect.ValueOf(v), depth)
	}
	return nil
}

// direct is v passed in place (capi.Direct), when it is nil, a bool, an
// integer, a finite float, a string or a byte slice: the common arguments
// of hot calls, which then need no encoding and no buffer. A string's
// bytes are checked for UTF-8 by the library as Python copies them.
func direct(v any) (capi.Direct, bool) {
	switch x := v.(type) {
	case nil:
		return capi.Direct{Tag: capi.ValueNone}, true
	case string:
		return capi.Direct{Tag: capi.ValueStr, Ptr: unsafe.StringData(x), Len: len(x)}, true
	case int:
		return directInt(int64(x)), true
	case int64:
		return directInt(x), true
	case bool:
		if x {
			return capi.Direct{Tag: capi.ValueTrue}, true
		}
		return capi.Direct{Tag: capi.ValueFalse}, true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return capi.Direct{}, false // the encoder says why it cannot cross
		}
		return capi.Direct{Tag: capi.ValueFloat, Bits: math.Float64bits(x)}, true
	case []byte:
		return capi.Direct{Tag: capi.ValueBytes, Ptr: unsafe.SliceData(x), Len: len(x)}, true
	case int32:
		return directInt(int64(x)), true
	case uint64:
		if x > math.MaxInt64 {
			return capi.Direct{Tag: capi.ValueUint, Bits: x}, true
		}
		return directInt(int64(x)), true
	case uint32:
		return directInt(int64(x)), true
	}
	return capi.Direct{}, false
}

func directInt(v int64) capi.Direct { return capi.Direct{Tag: capi.ValueInt, Bits: uint64(v)} }

// scalarValue is a scalar result passed in place, as decodeValue gives it.
func scalarValue(tag byte, bits uint64) (any, error) {
	switch tag {
	case capi.ValueNone:
		return nil, nil
	case capi.ValueTrue:
		return true, nil
	case capi.ValueFalse:
		return false, nil
	case capi.ValueInt:
		return int64(bits), nil
	case capi.ValueFloat:
		return math.Float64frombits(bits), nil
	}
	return nil, &ValueError{Msg: fmt.Sprintf("unknown tag %d", tag)}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func tooDeep() error {
	return &ValueError{Msg: fmt.Sprintf("lists and maps nest deeper than %d (or the value contains itself)", maxDepth)}
}

var bigIntType = reflect.TypeFor[*big.Int]()

func (e *encoder) reflect(rv reflect.Value, depth int) error {
	switch rv.Kind() {
	case reflect.Bool:
		return e.value(rv.Bool(), depth)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.int(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		e.uint(rv.Uint())
	case reflect.Float32, reflect.Float64:
		return e.float(rv.Float())
	case reflect.String:
		return e.str(rv.String())
	case reflect.Interface:
		if rv.IsNil() {
			e.tag(capi.ValueNone)
			return nil
		}
		return e.value(rv.Elem().Interface(), depth)
	case reflect.Pointer:
		if rv.IsNil() {
			e.tag(capi.ValueNone)
			return nil
		}
		if rv.Type() == bigIntType {
			e.bigInt(rv.Interface().(*big.Int))
			return nil
		}
		if depth >= maxDepth {
			return tooDeep()
		}
		return e.reflect(rv.Elem(), depth+1)
	case reflect.Slice, reflect.Array:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			if rv.Kind() == reflect.Slice {
				return e.bytes(rv.Bytes())
			}
			b := make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(b), rv)
			return e.bytes(b)
		}
		if depth >= maxDepth {
			return tooDeep()
		}
		n := rv.Len()
		e.header(capi.ValueList, n)
		for i := range n {
			if err := e.reflect(rv.Index(i), depth+1); err != nil {
				return atIndex(err, i)
			}
		}
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return &ValueError{Msg: fmt.Sprintf("Go type %s cannot cross to Python (map keys must be strings)", rv.Type())}
		}
		if depth >= maxDepth {
			return tooDeep()
		}
		keys := rv.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		e.header(capi.ValueDict, len(keys))
		for _, k := range keys {
			if err := e.key(k.String()); err != nil {
				return err
			}
			if err := e.reflect(rv.MapIndex(k), depth+1); err != nil {
				return atKey(err, k.String())
			}
		}
	default:
		if !rv.IsValid() {
			e.tag(capi.ValueNone)
			return nil
		}
		return &ValueError{Msg: fmt.Sprintf("Go type %s cannot cross to Python (nil, bool, numbers, string, []byte, slices, map[string]T and any do)", rv.Type())}
	}
	return nil
}

// Encode appends the encoding of v: for tests and tools that build values
// by hand.
func encodeValue(dst []byte, v any) ([]byte, error) {
	e := encoder{buf: dst}
	err := e.value(v, 0)
	return e.buf, err
}

// decoder reads encoded values. The engine's values are well formed; every
// read is still checked, so a bad buffer is an error, never a panic.
type decoder struct {
	b  []byte
	at int
}

var errTruncated = &ValueError{Msg: "the value is cut short"}

func (d *decoder) need(n int) error {
	if n < 0 || len(d.b)-d.at < n {
		return errTruncated
	}
	return nil
}

func (d *decoder) u32() (int, error) {
	if err := d.need(4); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint32(d.b[d.at:])
	d.at += 4
	return int(v), nil
}

func (d *decoder) u64() (uint64, error) {
	if err := d.need(8); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint64(d.b[d.at:])
	d.at += 8
	return v, nil
}

func (d *decoder) lenBytes() ([]byte, error) {
	n, err := d.u32()
	if err != nil {
		return nil, err
	}
	if err := d.need(n); err != nil {
		return nil, err
	}
	b := d.b[d.at : d.at+n]
	d.at += n
	return b, nil
}

// text reads a string, checked for UTF-8 (the engine only sends valid
// text; a corrupt buffer must still not make an invalid Go string).
func (d *decoder) text() (string, error) {
	b, err := d.lenBytes()
	if err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return "", &ValueError{Msg: "a string is not valid UTF-8"}
	}
	return string(b), nil
}

// float reads a float, which must be finite.
func (d *decoder) float() (float64, error) {
	bits, err := d.u64()
	if err != nil {
		return 0, err
	}
	f := math.Float64frombits(bits)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, &ValueError{Msg: "a float is NaN or infinite"}
	}
	return f, nil
}

func (d *decoder) tag() (byte, error) {
	if err := d.need(1); err != nil {
		return 0, err
	}
	t := d.b[d.at]
	d.at++
	return t, nil
}

// count reads a list or dict count, refusing one the bytes left cannot hold.
func (d *decoder) count(min int) (int, error) {
	n, err := d.u32()
	if err != nil {
		return 0, err
	}
	if n > (len(d.b)-d.at)/min {
		return 0, errTruncated
	}
	return n, nil
}

// any decodes the next value into Go's natural types.
func (d *decoder) any(depth int) (any, error) {
	t, err := d.tag()
	if err != nil {
		return nil, err
	}
	return d.anyAfter(t, depth)
}

func (d *decoder) anyAfter(t byte, depth int) (any, error) {
	switch t {
	case capi.ValueNone:
		return nil, nil
	case capi.ValueFalse:
		return false, nil
	case capi.ValueTrue:
		return true, nil
	case capi.ValueInt:
		v, err := d.u64()
		return int64(v), err
	case capi.ValueUint:
		v, err := d.u64()
		if err == nil && v <= math.MaxInt64 {
			return int64(v), nil // as it would have been encoded
		}
		return v, err
	case capi.ValueBigInt:
		b, err := d.lenBytes()
		if err != nil {
			return nil, err
		}
		x, ok := new(big.Int).SetString(string(b), 10)
		if !ok {
			return nil, &ValueError{Msg: "a big integer is not decimal digits"}
		}
		// As it would have been encoded: 64-bit values are INT or UINT.
		if x.IsInt64() {
			return x.Int64(), nil
		}
		if x.IsUint64() {
			return x.Uint64(), nil
		}
		return x, nil
	case capi.ValueFloat:
		return d.float()
	case capi.ValueStr:
		return d.text()
	case capi.ValueBytes:
		b, err := d.lenBytes()
		return slices.Clone(b), err
	case capi.ValueList:
		if depth >= maxDepth {
			return nil, tooDeep()
		}
		n, err := d.count(1)
		if err != nil {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = d.any(depth + 1); err != nil {
				return nil, err
			}
		}
		return out, nil
	case capi.ValueDict:
		if depth >= maxDepth {
			return nil, tooDeep()
		}
		n, err := d.count(5)
		if err != nil {
			return nil, err
		}
		out := make(map[string]any, n)
		for range n {
			k, err := d.text()
			if err != nil {
				return nil, err
			}
			v, err := d.any(depth + 1)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	}
	return nil, &ValueError{Msg: fmt.Sprintf("unknown value tag %d", t)}
}

// decodeValue decodes one whole encoded value into Go's natural types.
func decodeValue(b []byte) (any, error) {
	d := decoder{b: b}
	v, err := d.any(0)
	if err != nil {
		return nil, err
	}
	if d.at != len(b) {
		return nil, &ValueError{Msg: "bytes follow the value"}
	}
	return v, nil
}

// pythonType names the Python type an encoded tag came from, for messages.
func pythonType(t byte) string {
	switch t {
	case capi.ValueNone:
		return "None"
	case capi.ValueFalse, capi.ValueTrue:
		return "bool"
	case capi.ValueInt, capi.ValueUint, capi.ValueBigInt:
		return "int"
	case capi.ValueFloat:
		return "float"
	case capi.ValueStr:
		return "str"
	case capi.ValueBytes:
		return "bytes"
	case capi.ValueList:
		return "list"
	case capi.ValueDict:
		return "dict"
	}
	return fmt.Sprintf("tag %d", t)
}
