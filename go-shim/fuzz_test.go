package pyhost

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzDecodeBatch: any bytes decode into a Result or fail with errBadBatch;
// the decoder never panics, and a Result reused after a failure is clean.
func FuzzDecodeBatch(f *testing.F) {
	f.Add([]byte(newBatch(1, 1).metric(0, 1, "cpu", "", []string{"a"}, false, false, false)))
	f.Add([]byte(newBatch(0, 0)))
	f.Add([]byte("nope"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var res Result
		err := decodeBatch(b, &res)
		if err != nil && !errors.Is(err, errBadBatch) {
			t.Fatalf("a decoding error that is not errBadBatch: %v", err)
		}
		res.reset()
		if len(res.Metrics) != 0 || len(res.Warnings) != 0 {
			t.Fatalf("reset left %+v", res)
		}
	})
}

// FuzzCheckID: ids are deterministic, name-prefixed, and differ only when
// the configuration differs.
func FuzzCheckID(f *testing.F) {
	f.Add("disk", `{"a":1}`, `{"tags":["x"]}`)
	f.Add("", `{}`, `{}`)
	f.Fuzz(func(t *testing.T, name, initJSON, instJSON string) {
		var initConfig, instance map[string]any
		if json.Unmarshal([]byte(initJSON), &initConfig) != nil || json.Unmarshal([]byte(instJSON), &instance) != nil {
			return
		}
		a, err := CheckID(name, initConfig, instance)
		if err != nil {
			return // not JSON-encodable (e.g. NaN cannot come from JSON, so rare)
		}
		b, _ := CheckID(name, initConfig, instance)
		if a != b || len(a) != len(name)+17 || a[:len(name)+1] != name+":" {
			t.Fatalf("CheckID(%q) = %q then %q", name, a, b)
		}
	})
}

// FuzzFunctionCallJSON: whatever a caller passes as arguments, a call
// either fails with ErrInvalidArgument or a Python error, or returns valid
// JSON; nothing crashes, through the public API down to the engine.
func FuzzFunctionCallJSON(f *testing.F) {
	rt, err := Start(Options{PythonPath: []string{testdata()}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = rt.Close() })
	echo, err := rt.LoadFunction("benchmod", "echo")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{`[]`, `[1, "a", null, true, 2.5]`, `[[[[]]]]`, `[{"k": [1e308, -0]}]`, `[1,`, `{"a":1}`, "[\"\xff\"]", `[18446744073709551616]`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, args []byte) {
		out, err := echo.Call(args)
		var pe *PythonError
		switch {
		case err == nil:
			if !json.Valid(out) {
				t.Fatalf("echo(%q) returned invalid JSON %q", args, out)
			}
		case errors.Is(err, ErrInvalidArgument), errors.As(err, &pe):
		default:
			t.Fatalf("echo(%q): %v", args, err)
		}
	})
}

// FuzzDecodeValue: any bytes decode into a Go value or fail with a
// *ValueError; the decoder never panics, and what decodes encodes back.
func FuzzDecodeValue(f *testing.F) {
	for _, v := range []any{nil, int64(-1), "x", []any{1.5, []byte("b")}, map[string]any{"k": []any{}}} {
		b, err := encodeValue(nil, v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{9, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeValue(b)
		if err != nil {
			var ve *ValueError
			if !errors.As(err, &ve) {
				t.Fatalf("a decoding error that is not a *ValueError: %v", err)
			}
			return
		}
		again, err := encodeValue(nil, v)
		if err != nil {
			t.Fatalf("decoded %x to %#v, which does not encode: %v", b, v, err)
		}
		if w, err := decodeValue(again); err != nil || !reflect.DeepEqual(w, v) {
			t.Fatalf("%#v encoded and decoded is %#v (%v)", v, w, err)
		}
	})
}
