package pyhost

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// nativeModules are the engine's in-memory modules the SDK ships stubs for.
var nativeModules = []string{"_pyhost", "_pyhost_bridge", "aggregator", "datadog_agent", "_util", "util", "tagger", "containers", "kubeutil"}

func stubtest(t *testing.T, fn *Function, modules []string, configFile string) (int, string) {
	t.Helper()
	args, _ := json.Marshal([]any{modules, configFile})
	out, err := fn.Call(args)
	if err != nil {
		t.Fatalf("stubtest: %v", err)
	}
	var result []any
	if err := json.Unmarshal(out, &result); err != nil || len(result) != 2 {
		t.Fatalf("stubtest result %s: %v", out, err)
	}
	return int(result[0].(float64)), result[1].(string)
}

// The SDK's .pyi stubs (python-sdk/src/*-stubs) match the native modules,
// as mypy's stubtest sees them inside the engine.
func TestNativeModuleStubs(t *testing.T) {
	rt, _ := startRuntime(t)
	fn, err := rt.LoadFunction("stubcheck", "run")
	if err != nil {
		t.Fatal(err)
	}
	code, output := stubtest(t, fn, nativeModules, "")
	if code != 0 {
		t.Fatalf("stubtest found differences (exit %d):\n%s", code, output)
	}

	// The check is not vacuous: a stub that lacks a function and gets a
	// signature wrong is caught.
	dir := t.TempDir()
	stub := "class CheckCancelled(BaseException): ...\nclass CheckBase: ...\ndef version(x: int) -> str: ...\n"
	if err := os.WriteFile(filepath.Join(dir, "_pyhost.pyi"), []byte(stub), 0o644); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "mypy.ini")
	if err := os.WriteFile(config, []byte("[mypy]\nmypy_path = "+dir+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, output = stubtest(t, fn, []string{"_pyhost"}, config)
	if code == 0 || !strings.Contains(output, "_pyhost.version is inconsistent") || !strings.Contains(output, "_pyhost.noop is not present in stub") {
		t.Fatalf("a wrong stub passed stubtest (exit %d):\n%s", code, output)
	}
}
