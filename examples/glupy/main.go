// Command glupy reproduces glupy's negative-lookup-cache result with pyhost
// hooks: a Go lookup service over ten include directories, the PHP-include
// workload run without hooks (vanilla) and with a Python negative-lookup
// cache as dispatch and completion hooks (negative_cache.py).
//
//	go run . [-dirs 10] [-files 50] [-lookups 1000] [-delay 50us] [-rounds 5]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"example.com/glupy/lookup"
	"pyhost.dev/pyhost"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "glupy:", err)
		os.Exit(1)
	}
}

func run() error {
	ndirs := flag.Int("dirs", 10, "include directories")
	files := flag.Int("files", 50, "distinct files")
	lookups := flag.Int("lookups", 1000, "lookups per workload")
	delay := flag.Duration("delay", 50*time.Microsecond, "simulated round trip per probe (a LAN round trip)")
	rounds := flag.Int("rounds", 5, "repetitions (the median is printed)")
	hooks := flag.String("hooks", "", "the hook module (default: negative_cache.py beside this program's source)")
	flag.Parse()
	if *hooks == "" {
		*hooks = besideSource("negative_cache.py")
	}

	rt, err := pyhost.Start(pyhost.Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		return err
	}
	defer rt.Close()
	root, err := os.MkdirTemp("", "glupy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	dirs, err := lookup.IncludeDirs(root, *ndirs)
	if err != nil {
		return err
	}
	w, err := lookup.NewWorkload(dirs, *files, *lookups, 1)
	if err != nil {
		return err
	}
	svc := lookup.NewService(rt, dirs, *delay)
	ctx := context.Background()

	measure := func() (time.Duration, int, error) {
		var times []time.Duration
		probes := 0
		for range *rounds {
			if err := resetCache(rt, *hooks); err != nil {
				return 0, 0, err
			}
			svc.Probes = 0
			d, err := w.Run(ctx, svc)
			if err != nil {
				return 0, 0, err
			}
			times = append(times, d)
			probes = svc.Probes
		}
		slices.Sort(times)
		return times[len(times)/2], probes, nil
	}
	vanilla, vprobes, err := measure()
	if err != nil {
		return err
	}
	if _, err := rt.LoadHooks(*hooks); err != nil {
		return err
	}
	cached, cprobes, err := measure()
	if err != nil {
		return err
	}
	st := rt.Hooks("lookup").Stats()
	fmt.Printf("%d lookups of %d files over %d include directories, %v per probe:\n", *lookups, *files, *ndirs, *delay)
	fmt.Printf("  vanilla: %8.2f ms  (%d probes)\n", ms(vanilla), vprobes)
	fmt.Printf("  cached:  %8.2f ms  (%d probes; the cache answered %d)\n", ms(cached), cprobes, st.Answered/uint64(*rounds))
	fmt.Printf("  %.2fx faster (cached/vanilla = %.3f; glupy: 5.8 ms -> 1.5 ms, 3.9x)\n",
		float64(vanilla)/float64(cached), float64(cached)/float64(vanilla))
	if st.Errors > 0 {
		return fmt.Errorf("%d hook calls failed: %s", st.Errors, st.LastError)
	}
	return nil
}

// resetCache empties the cache module's state, if it is loaded.
func resetCache(rt *pyhost.Runtime, hooks string) error {
	fn, err := rt.LoadFunction(hooks, "reset")
	if err != nil {
		return err
	}
	defer fn.Close()
	_, err = fn.Invoke()
	return err
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func besideSource(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), name)
}
