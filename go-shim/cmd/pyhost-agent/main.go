// Command pyhost-agent schedules Python checks and exports what they submit:
//
//	pyhost-agent run     [--config FILE] [--listen ADDR] [--conf-dir DIR --checks-dir DIR] …
//	pyhost-agent check   NAME [--json] [--times N] [--pause D] [--raw] [--config FILE | --conf-dir DIR --checks-dir DIR]
//	pyhost-agent status  [--config FILE | --listen ADDR] [--json]
//	pyhost-agent module  list [--config FILE | --listen ADDR] [--json]
//	pyhost-agent module  command [--config FILE] MODULE COMMAND [--ARG VALUE …]
//	pyhost-agent version [--json]
//
// Every option of the configuration file can also come from a flag; flags win.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"pyhost.dev/pyhost/internal/agent"
	"pyhost.dev/pyhost/internal/agent/config"
)

const usage = `pyhost-agent runs Python checks in-process and exports what they submit.

Usage:
  pyhost-agent run     [flags]        run the agent in the foreground until SIGINT/SIGTERM
  pyhost-agent check   NAME [flags]   run every instance of one check once (or --times N) and print the result
  pyhost-agent status  [flags]        ask the running agent for its status
  pyhost-agent module  list [flags]   list the running agent's modules, their commands and health
  pyhost-agent module  command [flags] MODULE COMMAND [--ARG VALUE ...]
                                      run a module's command on the running agent and print its result
  pyhost-agent version [flags]        print pyhost's, Go's and the embedded Python's versions

Run 'pyhost-agent COMMAND -h' for a command's flags.
Exit status: 0 success, 1 a check failed (or the agent could not be reached), 2 usage or configuration error.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return agent.ExitUsage
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(args, stderr)
	case "check":
		return cmdCheck(args, stdout, stderr)
	case "status":
		return cmdStatus(args, stdout, stderr)
	case "module":
		return cmdModule(args, stdout, stderr)
	case "version":
		return cmdVersion(args, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return agent.ExitOK
	}
	fmt.Fprintf(stderr, "pyhost-agent: unknown command %q\n\n%s", cmd, usage)
	return agent.ExitUsage
}

// configFlags are the flags every command shares: the configuration file
// and an override for each of its options.
type configFlags struct {
	fs                                  *flag.FlagSet
	file, listen, confDir, checksDir    string
	runDir, logLevel, python, libPython string
	engine, pythonPath, hostname        string
	runners                             int
	defaultTimeout, shutdownTimeout     config.Duration
	httpRemote, allowInsecure           bool
}

func newFlags(name string, stderr io.Writer) *configFlags {
	f := &configFlags{fs: flag.NewFlagSet("pyhost-agent "+name, flag.ContinueOnError)}
	f.fs.SetOutput(stderr)
	f.fs.StringVar(&f.file, "config", "", "main configuration file (pyhost.yaml); default: built-in defaults")
	f.fs.StringVar(&f.confDir, "conf-dir", "", "check configurations directory (conf.d)")
	f.fs.StringVar(&f.checksDir, "checks-dir", "", "check files directory (checks.d)")
	f.fs.StringVar(&f.runDir, "run-dir", "", "directory for the agent's state")
	f.fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error")
	f.fs.StringVar(&f.python, "python", "", "Python executable to embed (default: $PYHOST_PYTHON, else the one recorded at build time)")
	f.fs.StringVar(&f.libPython, "libpython", "", "libpython to load before the engine")
	f.fs.StringVar(&f.engine, "engine", "", "pyhost engine shared object")
	f.fs.StringVar(&f.pythonPath, "python-path", "", "extra sys.path entries, separated by ':'")
	f.fs.StringVar(&f.hostname, "hostname", "", "host name reported by the agent")
	f.fs.Var(&f.defaultTimeout, "default-timeout", "a run's deadline when its instance sets no pyhost_run_timeout (default 30s)")
	f.fs.BoolVar(&f.allowInsecure, "allow-insecure-files", false, "load check and configuration files other users may write")
	return f
}

func (f *configFlags) withServer() *configFlags {
	f.fs.StringVar(&f.listen, "listen", "", "HTTP listen address (default 127.0.0.1:5050)")
	f.fs.IntVar(&f.runners, "check-runners", 0, "check runs at once (default 4)")
	f.fs.Var(&f.shutdownTimeout, "shutdown-timeout", "how long runs in flight may finish at shutdown (default 10s)")
	f.fs.BoolVar(&f.httpRemote, "http-remote", false, "let --listen be an address other hosts reach (default: loopback only)")
	return f
}

// load reads the configuration file (or the defaults) and applies the flags
// that were set on the command line.
func (f *configFlags) load() (config.Config, error) {
	cfg := config.Default()
	if f.file != "" {
		var err error
		if cfg, err = config.Load(f.file); err != nil {
			return cfg, err
		}
	}
	abs := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return p
	}
	var err error
	f.fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "listen":
			cfg.Listen = f.listen
		case "conf-dir":
			cfg.ConfDir = abs(f.confDir)
		case "checks-dir":
			cfg.ChecksDir = abs(f.checksDir)
		case "run-dir":
			cfg.RunDir = abs(f.runDir)
		case "log-level":
			cfg.LogLevel = f.logLevel
		case "python":
			cfg.Python.Executable = f.python
		case "libpython":
			cfg.Python.LibPython = f.libPython
		case "engine":
			cfg.Python.Engine = f.engine
		case "python-path":
			for _, p := range filepath.SplitList(f.pythonPath) {
				cfg.Python.Paths = append(cfg.Python.Paths, abs(p))
			}
		case "hostname":
			cfg.Hostname = f.hostname
		case "check-runners":
			cfg.CheckRunners = f.runners
			if f.runners < 1 {
				err = fmt.Errorf("--check-runners must be at least 1, got %d", f.runners)
			}
		case "default-timeout":
			cfg.DefaultTimeout = f.defaultTimeout
		case "shutdown-timeout":
			cfg.ShutdownTimeout = f.shutdownTimeout
		case "http-remote":
			cfg.HTTPRemote = f.httpRemote
		case "allow-insecure-files":
			cfg.AllowInsecureFiles = f.allowInsecure
		}
	})
	if err == nil {
		err = cfg.Validate()
	}
	if err == nil && f.file != "" && !cfg.AllowInsecureFiles {
		err = agent.Trusted(f.file)
	}
	return cfg, err
}

func newLogger(cfg config.Config, stderr io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.Level()}))
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func cmdRun(args []string, stderr io.Writer) int {
	f := newFlags("run", stderr).withServer()
	if err := f.fs.Parse(args); err != nil {
		return agent.ExitUsage
	}
	if f.fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pyhost-agent run: unexpected argument %q\n", f.fs.Arg(0))
		return agent.ExitUsage
	}
	cfg, err := f.load()
	if err != nil {
		fmt.Fprintf(stderr, "pyhost-agent: %v\n", err)
		return agent.ExitUsage
	}
	logger := newLogger(cfg, stderr)
	ctx, stop := signalContext()
	defer stop()
	// Starting runs plugin code (each check's import and constructor; the
	// modules load later, in the background), which nothing can interrupt:
	// after a signal, the start is waited for only up to shutdown_timeout.
	type started struct {
		a   *agent.Agent
		err error
	}
	starting := make(chan started, 1)
	go func() {
		a, err := agent.New(cfg, logger)
		starting <- started{a, err}
	}()
	var s started
	select {
	case s = <-starting:
	case <-ctx.Done():
		// A start that is merely slow finishes, and then stops in order
		// (Run sees ctx done); one stuck in plugin code is left behind.
		select {
		case s = <-starting:
		case <-time.After(time.Duration(cfg.ShutdownTimeout)):
			logger.Error("stopped while starting: a check being loaded did not return within shutdown_timeout",
				"shutdown_timeout", time.Duration(cfg.ShutdownTimeout))
			return agent.ExitCheckFailed
		}
	}
	if s.err != nil {
		fmt.Fprintf(stderr, "pyhost-agent: %v\n", s.err)
		return agent.ExitUsage
	}
	a := s.a
	logger.Info("status page", "url", "http://"+a.Addr()+"/", "metrics", "http://"+a.Addr()+"/metrics")
	if err := a.Run(ctx); err != nil {
		logger.Error("agent stopped with an error", "err", err)
		return agent.ExitCheckFailed
	}
	return agent.ExitOK
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	f := newFlags("check", stderr)
	asJSON := f.fs.Bool("json", false, "print one JSON object instead of a table")
	times := f.fs.Int("times", 1, "runs of every instance (2 or more make rates appear)")
	pause := f.fs.Duration("pause", 0, "pause between runs (default 1s when --times > 1)")
	raw := f.fs.Bool("raw", false, "list every submitted sample instead of the aggregated series")
	// NAME may come before or after the flags.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := f.fs.Parse(args); err != nil {
		return agent.ExitUsage
	}
	if name == "" && f.fs.NArg() > 0 {
		name = f.fs.Arg(0)
	} else if f.fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pyhost-agent check: unexpected argument %q\n", f.fs.Arg(0))
		return agent.ExitUsage
	}
	if name == "" || *times < 1 {
		fmt.Fprintln(stderr, "usage: pyhost-agent check NAME [--json] [--times N] [--pause D] [--raw] [--config FILE | --conf-dir DIR --checks-dir DIR]")
		return agent.ExitUsage
	}
	cfg, err := f.load()
	if err != nil {
		fmt.Fprintf(stderr, "pyhost-agent: %v\n", err)
		return agent.ExitUsage
	}
	if *pause == 0 && *times > 1 {
		*pause = defaultPause
	}
	ctx, stop := signalContext()
	defer stop()
	rep, exit, err := agent.RunCheck(ctx, cfg, name, agent.CheckOptions{Times: *times, Pause: *pause, Raw: *raw}, newLogger(cfg, stderr))
	if err != nil {
		fmt.Fprintf(stderr, "pyhost-agent: %v\n", err)
		return exit
	}
	if *asJSON {
		writeJSON(stdout, rep)
	} else {
		printReport(stdout, rep)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(stderr, "pyhost-agent: %s\n", formatProblem(p))
	}
	return exit
}

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	f := newFlags("status", stderr).withServer()
	asJSON := f.fs.Bool("json", false, "print the agent's /status JSON as it is")
	if err := f.fs.Parse(args); err != nil {
		return agent.ExitUsage
	}
	cfg, err := f.load()
	if err != nil {
		fmt.Fprintf(stderr, "pyhost-agent: %v\n", err)
		return agent.ExitUsage
	}
	raw, st, err := fetchStatus(cfg.Listen)
	if err != nil {
		fmt.Fprintf(stderr, "pyhost-agent: no agent answering on %s: %v\n", cfg.Listen, err)
		return agent.ExitCheckFailed
	}
	if *asJSON {
		_, _ = stdout.Write(raw)
		return agent.ExitOK
	}
	printStatus(stdout, st)
	return agent.ExitOK
}

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	f := newFlags("version", stderr)
	asJSON := f.fs.Bool("json", false, "print JSON")
	if err := f.fs.Parse(args); err != nil {
		return agent.ExitUsage
	}
	cfg, err := f.load()
	if err != nil {
		fmt.Fprintf(stderr, "pyhost-agent: %v\n", err)
		return agent.ExitUsage
	}
	v, err := agent.Versions(cfg, newLogger(cfg, stderr))
	if *asJSON {
		writeJSON(stdout, v)
	} else {
		printVersions(stdout, v)
	}
	if err != nil {
		fmt.Fprintf(stderr, "pyhost-agent: %v\n", err)
		return agent.ExitCheckFailed
	}
	return agent.ExitOK
}
