package pyhost

import (
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

// randomValue makes a nested value of every kind the encoding carries, as
// Go's natural decoded types (so what comes back compares equal).
func randomValue(r *rand.Rand, depth int) any {
	kinds := 12
	if depth >= 5 {
		kinds = 10 // no more containers
	}
	switch r.IntN(kinds) {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		return r.Int64() - r.Int64()
	case 3:
		return []int64{math.MinInt64, math.MaxInt64, 0, -1}[r.IntN(4)]
	case 4:
		return uint64(math.MaxInt64) + 1 + r.Uint64()%(math.MaxUint64-math.MaxInt64)
	case 5:
		b := new(big.Int).Lsh(big.NewInt(r.Int64N(1000)+1), uint(65+r.IntN(200)))
		if r.IntN(2) == 0 {
			b.Neg(b)
		}
		return b
	case 6:
		return (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(600)-300))
	case 7:
		return randomString(r)
	case 8:
		b := make([]byte, r.IntN(20))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return b
	case 9:
		return ""
	case 10:
		items := make([]any, r.IntN(6))
		for i := range items {
			items[i] = randomValue(r, depth+1)
		}
		return items
	default:
		n := r.IntN(6)
		m := make(map[string]any, n)
		for range n {
			m[randomString(r)] = randomValue(r, depth+1)
		}
		return m
	}
}

func randomString(r *rand.Rand) string {
	alphabet := []rune("abcXYZ09 _-é☃𝄞\u0000\n\"'\\")
	var b strings.Builder
	for range r.IntN(12) {
		b.WriteRune(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

// equalValues compares decoded values, *big.Int by value.
func equalValues(a, b any) bool {
	switch x := a.(type) {
	case *big.Int:
		y, ok := b.(*big.Int)
		return ok && x.Cmp(y) == 0
	case []byte:
		y, ok := b.([]byte)
		return ok && string(x) == string(y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalValues(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equalValues(v, w) {
				return false
			}
		}
		return true
	}
	return a == b
}

// Random nested values Go → Python → Go come back equal, through Invoke,
// through a Go function Python calls (Go → Python → Go → Python → Go), and
// through Publish and pyhost.host.get.
func TestRandomValuesComeBackEqual(t *testing.T) {
	rt, _ := startRuntime(t)
	if err := rt.DefineModule("goecho", map[string]any{"echo": func(v any) any { return v }}); err != nil {
		t.Fatal(err)
	}
	echo, call, thawed := py(t, rt, "echo"), py(t, rt, "call"), py(t, rt, "get_thawed")
	seed := rand.Uint64()
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range 400 {
		v := randomValue(r, 0)
		got, err := echo.Invoke(v)
		if err != nil || !equalValues(got, v) {
			t.Fatalf("seed %d, value %d: Invoke echo(%#v) = %#v, %v", seed, i, v, got, err)
		}
		out, err := call.Invoke("goecho", "echo", v)
		if err != nil {
			t.Fatalf("seed %d, value %d: %v", seed, i, err)
		}
		if pair := out.([]any); pair[0] != "ok" || !equalValues(pair[1], v) {
			t.Fatalf("seed %d, value %d: through a Go function %#v came back as %#v", seed, i, v, pair)
		}
		if err := rt.Publish("gotest.random", v); err != nil {
			t.Fatalf("seed %d, value %d: Publish: %v", seed, i, err)
		}
		if got, err := thawed.Invoke("gotest.random"); err != nil || !equalValues(got, v) {
			t.Fatalf("seed %d, value %d: host.get of %#v = %#v, %v", seed, i, v, got, err)
		}
	}
}

// A cyclic Python value passed to a Go function is refused before Go runs.
func TestCyclicPythonValuesAreRefused(t *testing.T) {
	rt, _ := startRuntime(t)
	called := false
	if err := rt.DefineModule("gocyclic", map[string]any{"take": func(v any) { called = true }}); err != nil {
		t.Fatal(err)
	}
	msg, err := py(t, rt, "call_with_cyclic").Invoke("gocyclic", "take")
	if err != nil || !strings.Contains(msg.(string), "ValueError: gocyclic.take() argument 1: the value nests deeper than 64") {
		t.Fatalf("a cyclic argument: %v %v", msg, err)
	}
	if called {
		t.Fatal("the Go function ran with a cyclic argument")
	}
}
