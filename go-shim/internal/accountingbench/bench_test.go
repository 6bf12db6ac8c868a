// Package accountingbench measures what accounting costs: accounting on
// against off, in two processes driven in alternation. It is a package of
// its own so that its code does not move the root package's benchmarks
// (whose paired call ratio shifts with the test binary's code layout).
package accountingbench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"pyhost.dev/pyhost"
)

// submitCount is the root package's metric benchmark's: a run submits this
// many gauges.
const submitCount = 100000

func testdata(parts ...string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(append([]string{filepath.Dir(file), "..", "..", "testdata"}, parts...)...)
}

func loadCheck(t *testing.T, rt *pyhost.Runtime, file string, instance map[string]any) *pyhost.Check {
	t.Helper()
	class, err := rt.LoadCheckClass(testdata("checks", file), "")
	if err != nil {
		t.Fatal(err)
	}
	chk, err := class.NewCheck(file, nil, instance)
	if err != nil {
		t.Fatal(err)
	}
	return chk
}

func medianOf(vs []float64) float64 {
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// Whether Python memory is counted is decided when Python starts, so
// accounting on and off cannot be compared in one process. Measured as
// separate processes seconds apart, the shared machine moves a 5% difference
// by tens of percent; BenchmarkAccountingPaired instead drives two child
// processes, one with accounting on and one off, in alternating blocks of a
// few milliseconds each (as BenchmarkCallPaired alternates in-process), and
// reports the median of the per-block-pair ratios.

const accountingChildEnv = "PYHOST_BENCH_ACCOUNTING_CHILD"

// TestAccountingChild is not a test of its own: it is the child process
// BenchmarkAccountingPaired drives (skipped otherwise). It reads "submit N"
// or "trivial N" lines, runs that check N times, and answers each with the
// elapsed nanoseconds.
func TestAccountingChild(t *testing.T) {
	mode := os.Getenv(accountingChildEnv)
	if mode == "" {
		t.Skip("the child process of BenchmarkAccountingPaired")
	}
	rt, err := pyhost.Start(pyhost.Options{PythonPath: []string{testdata()}, DisableAccounting: mode == "off"})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	checks := map[string]*pyhost.Check{
		"submit":  loadCheck(t, rt, "bench_submit.py", map[string]any{"count": submitCount}),
		"trivial": loadCheck(t, rt, "trivial.py", nil),
	}
	var res pyhost.Result
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		what, count, _ := strings.Cut(in.Text(), " ")
		n, _ := strconv.Atoi(count)
		chk := checks[what]
		if chk == nil || n < 1 {
			t.Fatalf("bad request %q", in.Text())
		}
		start := time.Now()
		for range n {
			if err := chk.RunInto(context.Background(), &res); err != nil {
				t.Fatal(err)
			}
		}
		fmt.Printf("elapsed %d\n", time.Since(start).Nanoseconds())
	}
}

// accountingChild is one child process and its pipes.
type accountingChild struct {
	in  io.WriteCloser
	out *bufio.Scanner
}

var (
	accountingChildren     [2]*accountingChild // on, off
	accountingChildrenOnce sync.Once
	accountingChildrenErr  error
)

func startAccountingChild(mode string) (*accountingChild, error) {
	cmd := exec.Command(os.Args[0], "-test.run", "^TestAccountingChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), accountingChildEnv+"="+mode)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// The children end when the benchmark process does (their stdin closes).
	return &accountingChild{in: in, out: bufio.NewScanner(out)}, nil
}

// run asks the child for n runs of what and returns the ns they took.
func (c *accountingChild) run(what string, n int) (float64, error) {
	if _, err := fmt.Fprintf(c.in, "%s %d\n", what, n); err != nil {
		return 0, err
	}
	for c.out.Scan() {
		if v, ok := strings.CutPrefix(c.out.Text(), "elapsed "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("the %s child ended: %v", what, c.out.Err())
}

// BenchmarkAccountingPaired: one op is one block pair of each workload (a
// 100,000-gauge run; 2,000 trivial runs), on then off or off then on.
func BenchmarkAccountingPaired(b *testing.B) {
	accountingChildrenOnce.Do(func() {
		for i, mode := range []string{"on", "off"} {
			if accountingChildren[i], accountingChildrenErr = startAccountingChild(mode); accountingChildrenErr != nil {
				return
			}
		}
		// Warm both up: imports, first runs, the allocator's pools.
		for _, c := range accountingChildren {
			for _, w := range []struct {
				what string
				n    int
			}{{"submit", 3}, {"trivial", 5000}} {
				if _, err := c.run(w.what, w.n); err != nil {
					accountingChildrenErr = err
					return
				}
			}
		}
	})
	if accountingChildrenErr != nil {
		b.Fatal(accountingChildrenErr)
	}
	on, off := accountingChildren[0], accountingChildren[1]
	workloads := []struct {
		what, unit string
		n, per     int // runs per block; what one run counts as (metrics)
	}{{"submit", "metric", 1, submitCount}, {"trivial", "op", 2000, 1}}
	results := map[string][3][]float64{} // on, off, ratio
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, w := range workloads {
			first, second := on, off
			if i%2 == 1 {
				first, second = off, on
			}
			a, err := first.run(w.what, w.n)
			if err != nil {
				b.Fatal(err)
			}
			c, err := second.run(w.what, w.n)
			if err != nil {
				b.Fatal(err)
			}
			tOn, tOff := a, c
			if i%2 == 1 {
				tOn, tOff = c, a
			}
			per := float64(w.n * w.per)
			r := results[w.what]
			r[0], r[1], r[2] = append(r[0], tOn/per), append(r[1], tOff/per), append(r[2], tOn/tOff)
			results[w.what] = r
		}
	}
	b.StopTimer()
	for _, w := range workloads {
		r := results[w.what]
		b.ReportMetric(medianOf(r[0]), w.what+"-on-ns/"+w.unit)
		b.ReportMetric(medianOf(r[1]), w.what+"-off-ns/"+w.unit)
		b.ReportMetric(medianOf(r[2]), w.what+"-ratio")
	}
}
