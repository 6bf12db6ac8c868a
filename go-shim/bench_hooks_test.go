package pyhost

import (
	"context"
	"testing"
)

// passOp is the operation behind the hook benchmarks: it does nothing.
func passOp(_ context.Context, req any) (any, error) { return req, nil }

func hookPoint(b *testing.B, op string, withHook bool) *HookPoint {
	rt := benchRuntime(b)
	hp := rt.Hooks(op)
	if withHook {
		hp.SetDispatch(mustFunction(b, rt, "hook_pass"))
	}
	return hp
}

// BenchmarkHookDispatchNoop: HookPoint.Call of a request (a short string)
// with a dispatch hook that passes, per call; the operation does nothing.
func BenchmarkHookDispatchNoop(b *testing.B) {
	hp := hookPoint(b, "bench.dispatch", true)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if _, err := hp.Call(ctx, "index.php", passOp); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if st := hp.Stats(); st.Errors != 0 || st.Calls < uint64(b.N) {
		b.Fatalf("stats: %+v", st)
	}
}

// BenchmarkHookDispatchNoop8: the same from 8 goroutines (ns per call =
// 1/throughput).
func BenchmarkHookDispatchNoop8(b *testing.B) {
	hp := hookPoint(b, "bench.dispatch8", true)
	ctx := context.Background()
	b.ResetTimer()
	parallel8(b, func() func() error {
		return func() error {
			_, err := hp.Call(ctx, "index.php", passOp)
			return err
		}
	})
}

// BenchmarkHookPassthrough: HookPoint.Call with no hook installed.
func BenchmarkHookPassthrough(b *testing.B) {
	hp := hookPoint(b, "bench.none", false)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if _, err := hp.Call(ctx, "index.php", passOp); err != nil {
			b.Fatal(err)
		}
	}
}
