package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A module that is a package is checked with every file and folder inside
// it: a submodule others may write is refused as its __init__.py would be.
func TestAPackageIsTrustedOnlyWhenAllOfItIs(t *testing.T) {
	pkg := filepath.Join(t.TempDir(), "pkgmod")
	sub := filepath.Join(pkg, "helpers")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{filepath.Join(pkg, "__init__.py"), filepath.Join(sub, "__init__.py"), filepath.Join(sub, "net.py")} {
		if err := os.WriteFile(f, []byte("\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := Trusted(pkg); err != nil {
		t.Fatalf("a package only its owner may write: %v", err)
	}
	for _, loose := range []struct {
		path string
		mode os.FileMode
	}{{filepath.Join(sub, "net.py"), 0o666}, {sub, 0o777}, {filepath.Join(pkg, "__init__.py"), 0o664}} {
		if err := os.Chmod(loose.path, loose.mode); err != nil {
			t.Fatal(err)
		}
		err := Trusted(pkg)
		if err == nil || !strings.Contains(err.Error(), loose.path+" is writable by") {
			t.Errorf("with %s mode %v: %v", loose.path, loose.mode, err)
		}
		back := os.FileMode(0o644)
		if loose.mode.Perm()&0o100 != 0 {
			back = 0o755
		}
		if err := os.Chmod(loose.path, back); err != nil {
			t.Fatal(err)
		}
	}
}
