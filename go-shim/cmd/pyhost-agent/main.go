// Command pyhost-agent loads the Python checks in a checks directory with
// their configurations from a conf directory (Datadog layout), runs every
// instance every few seconds and prints what they submit, until Ctrl-C.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"pyhost.dev/pyhost"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type checkConfig struct {
	InitConfig map[string]any   `yaml:"init_config"`
	Instances  []map[string]any `yaml:"instances"`
}

// instance is one configured check instance, ready to run.
type instance struct {
	check *pyhost.Check
	name  string
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pyhost-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	checksDir := fs.String("checks-dir", "checks.d", "directory of check files (<name>.py)")
	confDir := fs.String("conf-dir", "conf.d", "directory of check configs (<name>.yaml or <name>.d/conf.yaml)")
	interval := fs.Duration("interval", 5*time.Second, "time between runs")
	once := fs.Bool("once", false, "run every instance once and exit (status 1 if a check failed)")
	asJSON := fs.Bool("json", false, "print results as JSON lines instead of a table")
	timeout := fs.Duration("timeout", 30*time.Second, "cancel a run that takes longer than this")
	python := fs.String("python", "", "Python executable to embed (default: $PYHOST_PYTHON or the build's Python)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	rt, err := pyhost.Start(pyhost.Options{Python: *python, PythonPath: []string{*checksDir}, Logger: logger})
	if err != nil {
		fmt.Fprintf(stderr, "pyhost-agent: %v\n", err)
		return 2
	}
	defer func() {
		if err := rt.Close(); err != nil {
			logger.Error("shutdown", "err", err)
		}
	}()
	if info, err := rt.PythonInfo(); err == nil {
		logger.Info("python started", "version", strings.Fields(info.Version)[0], "executable", info.Executable)
	}

	instances, problems := loadInstances(rt, *checksDir, *confDir, logger)
	if len(instances) == 0 {
		fmt.Fprintf(stderr, "pyhost-agent: no check could be loaded from %s with %s\n", *checksDir, *confDir)
		return 2
	}

	for {
		failed := runAll(ctx, instances, *timeout, *asJSON, stdout, logger)
		if *once {
			if failed > 0 || problems > 0 {
				return 1
			}
			return 0
		}
		select {
		case <-ctx.Done():
			logger.Info("stopping")
			return 0
		case <-time.After(*interval):
		}
	}
}

// loadInstances pairs each <name>.py with its config; a broken check or
// config is logged and skipped, the others still run.
func loadInstances(rt *pyhost.Runtime, checksDir, confDir string, logger *slog.Logger) ([]instance, int) {
	files, _ := filepath.Glob(filepath.Join(checksDir, "*.py"))
	sort.Strings(files)
	var out []instance
	problems := 0
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".py")
		cfg, err := readConfig(confDir, name)
		if err != nil {
			logger.Error("skipping check", "check", name, "err", err)
			problems++
			continue
		}
		class, err := rt.LoadCheckClass(file, "")
		if err != nil {
			logger.Error("skipping check", "check", name, "err", err)
			problems++
			continue
		}
		for i, inst := range cfg.Instances {
			chk, err := class.NewCheck(name, cfg.InitConfig, inst)
			if err != nil {
				logger.Error("skipping instance", "check", name, "instance", i, "err", err)
				problems++
				continue
			}
			out = append(out, instance{check: chk, name: name})
		}
	}
	return out, problems
}

func readConfig(confDir, name string) (*checkConfig, error) {
	var raw []byte
	var err error
	for _, p := range []string{filepath.Join(confDir, name+".yaml"), filepath.Join(confDir, name+".d", "conf.yaml")} {
		if raw, err = os.ReadFile(p); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("no configuration for %s in %s", name, confDir)
	}
	var cfg checkConfig
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(cfg.Instances) == 0 {
		return nil, fmt.Errorf("%s: no instances", name)
	}
	return &cfg, nil
}

type outcome struct {
	inst instance
	res  *pyhost.Result
	err  error
}

// runAll runs every instance concurrently, each on its own goroutine.
func runAll(ctx context.Context, instances []instance, timeout time.Duration, asJSON bool, stdout io.Writer, logger *slog.Logger) int {
	outcomes := make([]outcome, len(instances))
	var wg sync.WaitGroup
	for i, inst := range instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runCtx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			res, err := inst.check.Run(runCtx)
			outcomes[i] = outcome{inst, res, err}
		}()
	}
	wg.Wait()
	failed := 0
	for _, o := range outcomes {
		if o.err != nil {
			failed++
			var pe *pyhost.PythonError
			if errors.As(o.err, &pe) {
				logger.Error("check failed", "check", o.inst.check.ID(), "type", pe.Type, "message", pe.Message, "traceback", pe.Traceback)
			} else {
				logger.Error("check failed", "check", o.inst.check.ID(), "err", o.err)
			}
		}
	}
	if asJSON {
		printJSON(outcomes, stdout)
	} else {
		printTable(outcomes, stdout)
	}
	return failed
}

func printJSON(outcomes []outcome, stdout io.Writer) {
	enc := json.NewEncoder(stdout)
	for _, o := range outcomes {
		line := map[string]any{"check": o.inst.name, "check_id": o.inst.check.ID()}
		if o.res != nil {
			line["metrics"] = nonNil(o.res.Metrics)
			line["service_checks"] = nonNil(o.res.ServiceChecks)
			line["events"] = nonNil(o.res.Events)
			line["warnings"] = nonNil(o.res.Warnings)
		}
		if o.err != nil {
			var pe *pyhost.PythonError
			if errors.As(o.err, &pe) {
				line["error"] = map[string]string{"type": pe.Type, "message": pe.Message, "traceback": pe.Traceback}
			} else {
				line["error"] = map[string]string{"type": "pyhost", "message": o.err.Error()}
			}
		}
		_ = enc.Encode(line)
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func printTable(outcomes []outcome, stdout io.Writer) {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\n%s\nCHECK\tMETRIC\tTYPE\tVALUE\tTAGS\n", time.Now().Format(time.TimeOnly))
	for _, o := range outcomes {
		if o.res == nil {
			fmt.Fprintf(tw, "%s\t(error)\t\t\t%v\n", o.inst.name, o.err)
			continue
		}
		for _, m := range o.res.Metrics {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.6g\t%s\n", o.inst.name, m.Name, m.Type, m.Value, strings.Join(m.Tags, ","))
		}
		for _, sc := range o.res.ServiceChecks {
			fmt.Fprintf(tw, "%s\t%s\tservice_check\t%s\t%s\n", o.inst.name, sc.Name, sc.Status, strings.Join(sc.Tags, ","))
		}
		for _, w := range o.res.Warnings {
			fmt.Fprintf(tw, "%s\t(warning)\t\t\t%s\n", o.inst.name, w)
		}
		if o.err != nil {
			fmt.Fprintf(tw, "%s\t(error)\t\t\t%v\n", o.inst.name, o.err)
		}
	}
	_ = tw.Flush()
}
