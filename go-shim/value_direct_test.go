package pyhost

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

// TestInvokeInPlaceAndEncodedResultsMix: scalars, strings and byte strings
// cross in place, other values encoded, in any order; a function whose
// results change kind (scalars, then strings and lists, then scalars
// again) returns each right, and short strings that repeat (shared by the
// library) come back equal to what was sent.
func TestInvokeInPlaceAndEncodedResultsMix(t *testing.T) {
	rt, _ := startRuntime(t)
	echo := py(t, rt, "echo")
	add := py(t, rt, "add")
	for i := range 3000 {
		var in, want any
		switch i % 6 {
		case 0:
			in, want = int32(-i), int64(-i)
		case 1:
			in, want = uint32(i), int64(i)
		case 2:
			in = fmt.Sprintf("key-%d", i%50) // short, repeating
			want = in
		case 3:
			in = strings.Repeat("é", i%40) // not ASCII: not shared
			want = in
		case 4:
			in, want = []any{int64(i), "x"}, []any{int64(i), "x"}
		case 5:
			in, want = float64(i)/4, float64(i)/4
		}
		if i > 1000 && i < 2000 {
			// A stretch of scalars only.
			in, want = i, int64(i)
		}
		got, err := echo.Invoke(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("call %d: echo(%#v) = %#v, %v", i, in, got, err)
		}
	}
	if v, err := add.Invoke("ab", "cd"); err != nil || v != "abcd" {
		t.Errorf(`add("ab", "cd") = %#v, %v`, v, err)
	}
	if v, err := add.Invoke([]byte("a"), []byte{0}); err != nil || !reflect.DeepEqual(v, []byte{'a', 0}) {
		t.Errorf(`add(b"a", b"\x00") = %#v, %v`, v, err)
	}
	if v, err := add.Invoke(int64(math.MaxInt64), 1); err != nil || v != uint64(math.MaxInt64)+1 {
		t.Errorf("add(MaxInt64, 1) = %#v, %v", v, err)
	}
	if v, err := add.Invoke(uint64(math.MaxUint64), 1); err != nil || fmt.Sprint(v) != "18446744073709551616" {
		t.Errorf("add(MaxUint64, 1) = %#v, %v", v, err)
	}
	if _, err := add.Invoke(1, math.NaN()); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "argument 2") {
		t.Errorf("add(1, NaN): %v", err)
	}
	if _, err := add.Invoke(1, "\xff"); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "argument 2") || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf(`add(1, "\xff"): %v`, err)
	}
}

// TestStrsMadeFromGoAreCPythonsOwn: a str made from a Go string, in place
// or encoded in a list, shared or not, ASCII or not, of every length up to
// beyond what is shared, is in every way the str CPython's decoder makes of
// the same bytes: length, kind and size, equality and hash, UTF-8.
func TestStrsMadeFromGoAreCPythonsOwn(t *testing.T) {
	rt, _ := startRuntime(t)
	facts := py(t, rt, "str_facts")
	for n := range 70 {
		for _, in := range []string{strings.Repeat("a", n), strings.Repeat("~", n) + "é", "é" + strings.Repeat("0", n), strings.Repeat("\x00", n)} {
			ascii := !strings.Contains(in, "é")
			want := []any{int64(len([]rune(in))), ascii, true, true, []byte(in)}
			for _, arg := range []any{in, []any{in}} {
				got, err := facts.Invoke(arg)
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Fatalf("str_facts(%q) = %#v, %v; want %#v", in, got, err, want)
				}
			}
		}
	}
}
