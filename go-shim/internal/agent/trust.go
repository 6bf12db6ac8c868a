package agent

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"pyhost.dev/pyhost/internal/agent/config"
)

// Trusted reports why the agent must not load path — code or configuration
// it runs with its own privileges — or nil: a file, or its directory, that
// users other than the agent's own (and root) may write is refused, unless
// allow_insecure_files (--allow-insecure-files) says otherwise. A directory
// (a module that is a package) is checked with everything inside it: each
// of its files is code the agent may import.
func Trusted(path string) error {
	for _, p := range []string{path, filepath.Dir(path)} {
		if err := trustedOne(p); err != nil {
			return err
		}
	}
	info, err := os.Stat(path)
	if err != nil || !info.IsDir() {
		return err
	}
	return filepath.WalkDir(path, func(p string, _ fs.DirEntry, err error) error {
		if err != nil || p == path {
			return err
		}
		return trustedOne(p)
	})
}

// trustedOne checks one file or directory's mode and owner.
func trustedOne(p string) error {
	info, err := os.Stat(p)
	if err != nil {
		return err
	}
	if mode := info.Mode(); mode&0o022 != 0 && !(info.IsDir() && mode&os.ModeSticky != 0) {
		return fmt.Errorf("%s is writable by %s (mode %v); refused: any user could change what the "+
			"agent runs (chmod go-w it, or set allow_insecure_files)", p, writers(mode), mode.Perm())
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		if uid := int(st.Uid); uid != os.Geteuid() && uid != 0 {
			return fmt.Errorf("%s is owned by user %d, not by the agent's user (%d) or root; refused "+
				"(chown it, or set allow_insecure_files)", p, uid, os.Geteuid())
		}
	}
	return nil
}

func writers(mode os.FileMode) string {
	switch {
	case mode&0o020 != 0 && mode&0o002 != 0:
		return "its group and everyone"
	case mode&0o020 != 0:
		return "its group"
	}
	return "everyone"
}

// trustedInstances drops the instances whose configuration file is not
// trusted, each file once, as a problem.
func trustedInstances(cfg config.Config, insts []config.Instance) ([]config.Instance, []config.Problem) {
	if cfg.AllowInsecureFiles {
		return insts, nil
	}
	var kept []config.Instance
	var problems []config.Problem
	refused := map[string]bool{}
	for _, inst := range insts {
		if seen, ok := refused[inst.File]; ok {
			if !seen {
				kept = append(kept, inst)
			}
			continue
		}
		if err := Trusted(inst.File); err != nil {
			refused[inst.File] = true
			problems = append(problems, config.Problem{Check: inst.Check, File: inst.File, Msg: err.Error()})
			continue
		}
		refused[inst.File] = false
		kept = append(kept, inst)
	}
	return kept, problems
}
