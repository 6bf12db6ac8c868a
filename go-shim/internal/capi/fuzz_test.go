package capi

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzCallFunction drives pyhost_function_call directly: any argument bytes,
// any scratch size, the arguments sometimes inside the scratch buffer itself.
// A call fails with a status, or echoes exactly the arguments it was given
// (read before the result was written, even when they share memory);
// nothing crashes.
func FuzzCallFunction(f *testing.F) {
	rt, err := Start(StartOptions{PythonPath: []string{testdata()}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = Shutdown(rt, 1000) })
	fn, err := LoadFunction(rt, "benchmod", "echo")
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`["abc", 1]`), uint16(64), false)
	f.Add([]byte(`[[1,2,3],{"k":"v"}]`), uint16(0), true)
	f.Add([]byte(`[`), uint16(3), true)
	f.Fuzz(func(t *testing.T, args []byte, scratch uint16, inside bool) {
		buf := make([]byte, 0, int(scratch)+len(args))
		var dst, in []byte
		if inside {
			// The arguments sit in the spare capacity lent for the result.
			buf = append(buf, args...)
			in, dst = buf, buf[:0]
		} else {
			in, dst = args, buf
		}
		before := string(in)
		out, err := CallFunction(rt, fn, in, dst)
		if err != nil {
			if status(err) == StatusOK {
				t.Fatalf("an error without a status: %v", err)
			}
			return
		}
		var sent, echoed any = []any{}, nil
		if before != "" && json.Unmarshal([]byte(before), &sent) != nil { // "" means no arguments
			t.Fatalf("invalid arguments %q were accepted: %q", before, out)
		}
		if err := json.Unmarshal(out, &echoed); err != nil {
			t.Fatalf("echo(%q) = %q, not JSON", before, out)
		}
		if _, ok := sent.([]any); ok && !reflect.DeepEqual(sent, echoed) {
			t.Fatalf("echo(%q) = %q: the call did not see its arguments", before, out)
		}
	})
}

// FuzzInvokeFunction drives pyhost_function_invoke and pyhost_state_publish
// with any bytes as the encoded arguments or value (truncated, corrupt,
// deeply nested): a call fails with INVALID_ARGUMENT or a Python error, or
// succeeds on a well-formed value; nothing crashes.
func FuzzInvokeFunction(f *testing.F) {
	rt, err := Start(StartOptions{PythonPath: []string{testdata()}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = Shutdown(rt, 1000) })
	fn, err := LoadFunction(rt, "benchmod", "echo")
	if err != nil {
		f.Fatal(err)
	}
	list := func(items ...byte) []byte { return append([]byte{ValueList, byte(len(items) / 9), 0, 0, 0}, items...) }
	f.Add(list(ValueInt, 7, 0, 0, 0, 0, 0, 0, 0), uint16(64))
	f.Add([]byte{ValueList, 1, 0, 0, 0, ValueStr, 3, 0, 0, 0, 'a', 'b'}, uint16(8)) // cut short
	f.Add([]byte{ValueList, 0xff, 0xff, 0xff, 0xff}, uint16(0))                     // a count nothing backs
	f.Add([]byte{ValueList, 1, 0, 0, 0, ValueFloat, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f}, uint16(16))
	deep := []byte{ValueList, 1, 0, 0, 0}
	for range 1000 {
		deep = append(deep, ValueList, 1, 0, 0, 0)
	}
	f.Add(append(deep, ValueNone), uint16(32))
	f.Fuzz(func(t *testing.T, args []byte, scratch uint16) {
		out, err := InvokeFunction(rt, fn, args, 0, 0, make([]byte, 0, int(scratch)))
		if err != nil {
			if s := status(err); s != StatusInvalidArgument && s != StatusPythonException {
				t.Fatalf("invoke with %x: status %d: %v", args, s, err)
			}
		} else if len(out) == 0 {
			t.Fatalf("invoke with %x succeeded with no result", args)
		}
		if _, err := Publish(rt, "fuzz.value", args); err != nil && status(err) != StatusInvalidArgument {
			t.Fatalf("publish %x: %v", args, err)
		}
	})
}
