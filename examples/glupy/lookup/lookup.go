// Package lookup is the glupy demo's lookup service and workload: a Go
// service finding files along an include path of directories, each probe
// a stat plus a simulated round trip, and PHP's include workload over it.
// The demo (package main) and the comparison benchmark (bench/compare)
// both run it.
package lookup

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"pyhost.dev/pyhost"
)

// Service finds files along an include path of directories, as PHP's
// include does: each probe is a stat plus a simulated network round trip
// (the directories model a remote file system, as glupy's GlusterFS did).
// Probes and creates go through the hook points "lookup" and "create".
type Service struct {
	Dirs   []string
	Delay  time.Duration // the round trip each probe pays
	lookup *pyhost.HookPoint
	create *pyhost.HookPoint
	Probes int // probes that reached the file system
}

// NewService serves dirs; hooks come from rt (none installed: pass-through).
func NewService(rt *pyhost.Runtime, dirs []string, delay time.Duration) *Service {
	return &Service{Dirs: dirs, Delay: delay, lookup: rt.Hooks("lookup"), create: rt.Hooks("create")}
}

// RoundTrip waits d, spinning: sleeps this short are not kept by timers.
func RoundTrip(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
	}
}

// Probe is one probe of the file system: does path exist? It pays the
// round trip first.
func Probe(path string, delay time.Duration) (bool, error) {
	RoundTrip(delay)
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	}
	return false, err
}

// probe is the operation behind the "lookup" hook point.
func (s *Service) probe(_ context.Context, req any) (any, error) {
	s.Probes++
	found, err := Probe(req.(string), s.Delay)
	if err != nil {
		return nil, err
	}
	return found, nil
}

// Lookup returns the index of the first directory holding name, or -1.
func (s *Service) Lookup(ctx context.Context, name string) (int, error) {
	for i, dir := range s.Dirs {
		found, err := s.lookup.Call(ctx, filepath.Join(dir, name), s.probe)
		if err != nil {
			return -1, err
		}
		if found == true {
			return i, nil
		}
	}
	return -1, nil
}

// Create makes dir/name (a write: one round trip), through the "create"
// hook point so that hooks learn of it.
func (s *Service) Create(ctx context.Context, dir int, name string) error {
	_, err := s.create.Call(ctx, filepath.Join(s.Dirs[dir], name), func(_ context.Context, req any) (any, error) {
		RoundTrip(s.Delay)
		return true, os.WriteFile(req.(string), []byte("<?php\n"), 0o644)
	})
	return err
}

// Workload is the PHP-include workload: lookups of names, 80% of them to
// 10% of the files; each file lives in one of the last directories of the
// include path, so most names are absent from most directories.
type Workload struct {
	Files   []string // names, each created in Home[name]
	Home    map[string]int
	Lookups []string
}

// NewWorkload lays out files in dirs and draws lookups (seeded: the same
// workload every run).
func NewWorkload(dirs []string, files, lookups int, seed uint64) (*Workload, error) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	w := &Workload{Home: map[string]int{}}
	first := len(dirs) / 2 // files sit in the back half of the include path
	for i := range files {
		name := fmt.Sprintf("lib/module%03d.php", i)
		home := first + r.IntN(len(dirs)-first)
		if err := os.MkdirAll(filepath.Join(dirs[home], "lib"), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dirs[home], name), []byte("<?php\n"), 0o644); err != nil {
			return nil, err
		}
		w.Files = append(w.Files, name)
		w.Home[name] = home
	}
	hot := max(1, files/10)
	for range lookups {
		if r.Float64() < 0.8 {
			w.Lookups = append(w.Lookups, w.Files[r.IntN(hot)])
		} else {
			w.Lookups = append(w.Lookups, w.Files[hot+r.IntN(files-hot)])
		}
	}
	return w, nil
}

// Run looks every name up, checking each is found where it lives.
func (w *Workload) Run(ctx context.Context, s *Service) (time.Duration, error) {
	start := time.Now()
	for _, name := range w.Lookups {
		got, err := s.Lookup(ctx, name)
		if err != nil {
			return 0, err
		}
		if got != w.Home[name] {
			return 0, fmt.Errorf("%s found in directory %d, it is in %d", name, got, w.Home[name])
		}
	}
	return time.Since(start), nil
}

// IncludeDirs makes n empty include directories under root.
func IncludeDirs(root string, n int) ([]string, error) {
	dirs := make([]string, n)
	for i := range dirs {
		dirs[i] = filepath.Join(root, fmt.Sprintf("include%d", i))
		if err := os.MkdirAll(dirs[i], 0o755); err != nil {
			return nil, err
		}
	}
	return dirs, nil
}
