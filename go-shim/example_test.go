package pyhost_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"pyhost.dev/pyhost"
)

// quiet keeps the examples' Python log records off the output.
var quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

// Run a Python check from Go and read what it submitted.
func Example() {
	rt, err := pyhost.Start(pyhost.Options{Logger: quiet})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Close()

	class, err := rt.LoadCheckClass("testdata/checks/simple.py", "")
	if err != nil {
		fmt.Println(err)
		return
	}
	check, err := class.NewCheck("simple", nil, map[string]any{"value": 2.5})
	if err != nil {
		fmt.Println(err)
		return
	}
	result, err := check.Run(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range result.Metrics {
		fmt.Println(m.Name, m.Type, m.Value, m.Tags)
	}
	fmt.Println(result.ServiceChecks[0].Name, result.ServiceChecks[0].Status)
	// Output:
	// simple.gauge gauge 2.5 [env:test]
	// simple.count count 3 [env:test]
	// simple.mono monotonic_count 10 [env:test]
	// simple.can_connect OK
}

// A check that raises returns a *PythonError with the exception's type,
// message and traceback, along with what it submitted before raising.
func ExamplePythonError() {
	rt, err := pyhost.Start(pyhost.Options{Logger: quiet})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Close()
	class, _ := rt.LoadCheckClass("testdata/checks/raising.py", "")
	check, _ := class.NewCheck("raising", nil, nil)

	result, err := check.Run(context.Background())
	var pyErr *pyhost.PythonError
	if errors.As(err, &pyErr) {
		fmt.Println(pyErr.Type, "-", pyErr.Message)
	}
	fmt.Println(len(result.Metrics), "metric submitted before the exception")
	// Output:
	// raising.FetchError - endpoint unreachable
	// 1 metric submitted before the exception
}

// Call a module-level Python function with JSON arguments.
func ExampleFunction_Call() {
	rt, err := pyhost.Start(pyhost.Options{PythonPath: []string{"testdata"}, Logger: quiet})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Close()
	add, err := rt.LoadFunction("benchmod", "add")
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := add.Call([]byte(`[40, 2]`))
	fmt.Println(string(out), err)
	// Output: 42 <nil>
}

// After Close, every call fails with ErrShutdown.
func ExampleRuntime_Close() {
	rt, err := pyhost.Start(pyhost.Options{Logger: quiet})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = rt.Close()
	_, err = rt.LoadCheckClass("testdata/checks/trivial.py", "")
	fmt.Println(errors.Is(err, pyhost.ErrShutdown))
	// Output: true
}

// Run a check repeatedly into one reused Result: after the first run, the
// runs allocate nothing per metric. Consume each result before the next run.
func ExampleCheck_RunInto() {
	rt, err := pyhost.Start(pyhost.Options{Logger: quiet})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Close()

	class, err := rt.LoadCheckClass("testdata/checks/simple.py", "")
	if err != nil {
		fmt.Println(err)
		return
	}
	check, err := class.NewCheck("simple", nil, map[string]any{"value": 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	var result pyhost.Result
	total := 0.0
	for range 3 {
		if err := check.RunInto(context.Background(), &result); err != nil {
			fmt.Println(err)
			return
		}
		total += result.Metrics[0].Value
	}
	fmt.Println(len(result.Metrics), "metrics per run; gauge total", total)
	// Output:
	// 3 metrics per run; gauge total 3
}
