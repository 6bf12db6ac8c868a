package pyhost

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// TestStressMixedCalls runs 64 goroutines of mixed calls (load, create,
// run, call, close) on shared and private objects, while other goroutines
// start and shut down runtimes that are in use. Every error must be one the
// API documents for that race; nothing may crash. `make test-stress` runs it
// with -race, GOGC=1 and cgocheck2.
func TestStressMixedCalls(t *testing.T) {
	const goroutines = 64
	iterations := 1000
	if s := os.Getenv("PYHOST_STRESS_ITERATIONS"); s != "" {
		iterations, _ = strconv.Atoi(s)
	}
	shared, _ := startRuntime(t)
	sharedClass, err := shared.LoadCheckClass(testdata("checks", "trivial.py"), "")
	if err != nil {
		t.Fatal(err)
	}
	sharedCheck, err := sharedClass.NewCheck("shared", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	add, err := shared.LoadFunction("benchmod", "add")
	if err != nil {
		t.Fatal(err)
	}

	// A runtime that other goroutines keep using while it is replaced.
	var churn atomic.Pointer[Runtime]
	first, err := Start(Options{PythonPath: []string{testdata()}})
	if err != nil {
		t.Fatal(err)
	}
	churn.Store(first)

	allowed := func(err error) bool {
		return err == nil || errors.Is(err, ErrShutdown) || errors.Is(err, ErrClosed) || errors.Is(err, ErrBusy)
	}
	var calls atomic.Int64
	var wg sync.WaitGroup
	failures := make(chan string, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(g)))
			fail := func(format string, a ...any) {
				select {
				case failures <- fmt.Sprintf("goroutine %d: ", g) + fmt.Sprintf(format, a...):
				default:
				}
			}
			var mine []*Check
			for i := 0; i < iterations; i++ {
				calls.Add(1)
				switch op := rng.Intn(8); op {
				case 0: // call a shared function and check the answer
					out, err := add.Call([]byte(fmt.Sprintf("[%d,%d]", g, i)))
					if err != nil {
						fail("add: %v", err)
					} else if string(out) != strconv.Itoa(g+i) {
						fail("add(%d,%d) = %s", g, i, out)
					}
				case 1: // run the shared check (others may be running it: ErrBusy)
					res, err := sharedCheck.Run(context.Background())
					if !allowed(err) {
						fail("shared run: %v", err)
					} else if err == nil && (len(res.Metrics) != 1 || res.Metrics[0].Name != "trivial.value") {
						fail("shared run result: %+v", res)
					}
				case 2: // create a private check
					chk, err := sharedClass.NewCheck("private", nil, map[string]any{"g": g, "i": i})
					if err != nil {
						fail("new check: %v", err)
					} else {
						mine = append(mine, chk)
					}
				case 3: // run a private check
					if len(mine) > 0 {
						res, err := mine[rng.Intn(len(mine))].Run(context.Background())
						if err != nil && !errors.Is(err, ErrClosed) {
							fail("private run: %v", err)
						} else if err == nil && len(res.Metrics) != 1 {
							fail("private run result: %+v", res)
						}
					}
				case 4: // close a private check, sometimes twice
					if len(mine) > 0 {
						k := rng.Intn(len(mine))
						if err := mine[k].Close(); err != nil {
							fail("close: %v", err)
						}
						if err := mine[k].Close(); err != nil {
							fail("second close: %v", err)
						}
						mine = append(mine[:k], mine[k+1:]...)
					}
				case 5: // use the churning runtime (it may be shut down under us)
					rt := churn.Load()
					class, err := rt.LoadCheckClass(testdata("checks", "trivial.py"), "")
					if !allowed(err) {
						fail("churn load: %v", err)
						continue
					}
					if err != nil {
						continue
					}
					chk, err := class.NewCheck("churn", nil, map[string]any{"g": g, "i": i})
					if !allowed(err) {
						fail("churn new: %v", err)
					}
					if err == nil {
						// A shutdown while the run is under way cancels it.
						if _, err := chk.Run(context.Background()); !allowed(err) && !errors.Is(err, ErrCancelled) {
							fail("churn run: %v", err)
						}
						_ = chk.Close()
					}
					_ = class.Close()
				case 6: // replace the churning runtime, shutting the old one down
					if g%16 == 0 {
						next, err := Start(Options{PythonPath: []string{testdata()}})
						if err != nil {
							fail("start: %v", err)
							continue
						}
						if old := churn.Swap(next); old != nil {
							if err := old.Close(); err != nil {
								fail("shutdown: %v", err)
							}
						}
					}
				case 7: // a function load and call on a private handle
					fn, err := shared.LoadFunction("benchmod", "echo")
					if err != nil {
						fail("load echo: %v", err)
						continue
					}
					if out, err := fn.Call([]byte(`["x",1,null,true]`)); err != nil || string(out) != `["x",1,null,true]` {
						fail("echo: %s %v", out, err)
					}
					_ = fn.Close()
				}
			}
			for _, chk := range mine {
				_ = chk.Close()
			}
		}(g)
	}
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
	if err := churn.Load().Close(); err != nil {
		t.Error(err)
	}
	// The shared runtime still answers correctly.
	if out, err := add.Call([]byte(`[40,2]`)); err != nil || string(out) != "42" {
		t.Errorf("after the storm: add = %s, %v", out, err)
	}
	t.Logf("%d goroutines made %d mixed calls", goroutines, calls.Load())
}

// TestStressStartCloseCycles starts and closes a runtime 1,000 times with
// calls in flight on it: every call ends in success or ErrShutdown, every
// Close returns, and the process keeps answering.
func TestStressStartCloseCycles(t *testing.T) {
	cycles := 1000
	if s := os.Getenv("PYHOST_STRESS_CYCLES"); s != "" {
		cycles, _ = strconv.Atoi(s)
	}
	for c := 0; c < cycles; c++ {
		rt, err := Start(Options{PythonPath: []string{testdata()}})
		if err != nil {
			t.Fatal(err)
		}
		fn, err := rt.LoadFunction("benchmod", "add")
		if err != nil {
			t.Fatal(err)
		}
		var wg, calling sync.WaitGroup
		errs := make(chan error, 4)
		for g := 0; g < 4; g++ {
			wg.Add(1)
			calling.Add(1)
			go func() {
				defer wg.Done()
				var once sync.Once
				defer once.Do(calling.Done)
				for i := 0; ; i++ {
					if i == 1 {
						once.Do(calling.Done)
					}
					out, err := fn.Call([]byte(fmt.Sprintf("[%d,1]", i)))
					if err != nil {
						if !errors.Is(err, ErrShutdown) {
							errs <- err
						}
						return
					}
					if string(out) != strconv.Itoa(i+1) {
						errs <- fmt.Errorf("add(%d,1) = %s", i, out)
						return
					}
				}
			}()
		}
		// Close with the four calling: a call may be inside at any moment.
		calling.Wait()
		if err := rt.Close(); err != nil {
			t.Fatalf("cycle %d: Close: %v", c, err)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("cycle %d: a call in flight: %v", c, err)
		}
	}
	t.Logf("%d start/close cycles with calls in flight", cycles)
}
