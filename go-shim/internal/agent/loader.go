package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"pyhost.dev/pyhost"
	"pyhost.dev/pyhost/internal/agent/config"
)

// Instance is one configured check instance with its live check. Its
// Config keeps no InitConfig or Config map: the check has its own copy, in
// Python, and an agent of many instances should not hold two.
type Instance struct {
	Config config.Instance
	Source string // the check file or module the class came from
	Check  *pyhost.Check
}

// loadClass finds a check's class the way the Datadog Agent does, with the
// checks directory first: checks.d/NAME.py (if it is trusted, see Trusted),
// then the modules datadog_checks.NAME and NAME importable in the embedded
// Python.
func loadClass(rt *pyhost.Runtime, cfg config.Config, name string) (*pyhost.CheckClass, string, error) {
	file := filepath.Join(cfg.ChecksDir, name+".py")
	if _, err := os.Stat(file); err == nil {
		if !cfg.AllowInsecureFiles {
			if err := Trusted(file); err != nil {
				return nil, "", err
			}
		}
		class, err := rt.LoadCheckClass(file, "")
		return class, file, err
	}
	var firstReal error
	for _, module := range []string{"datadog_checks." + name, name} {
		class, err := rt.LoadCheckClass(module, "")
		if err == nil {
			return class, module, nil
		}
		if !isModuleMissing(err, module) && firstReal == nil {
			firstReal = fmt.Errorf("module %s: %w", module, err)
		}
	}
	if firstReal != nil {
		return nil, "", firstReal
	}
	return nil, "", fmt.Errorf("unknown check %q: no %s, and neither datadog_checks.%s nor %s is importable",
		name, file, name, name)
}

// isModuleMissing tells "module not there" from a module that failed.
func isModuleMissing(err error, module string) bool {
	var pe *pyhost.PythonError
	if !errors.As(err, &pe) || pe.Type != "ModuleNotFoundError" {
		return false
	}
	// "No module named 'a.b'" names the module or one of its parents.
	for m := module; m != ""; {
		if strings.Contains(pe.Message, "'"+m+"'") {
			return true
		}
		i := strings.LastIndexByte(m, '.')
		if i < 0 {
			break
		}
		m = m[:i]
	}
	return false
}

// LoadInstances creates every configured instance; a check or instance that
// cannot be loaded becomes a problem and the others still load.
func LoadInstances(rt *pyhost.Runtime, cfg config.Config, configured []config.Instance) ([]*Instance, []config.Problem) {
	var out []*Instance
	var problems []config.Problem
	byCheck := map[string][]config.Instance{}
	var names []string
	for _, inst := range configured {
		if _, ok := byCheck[inst.Check]; !ok {
			names = append(names, inst.Check)
		}
		byCheck[inst.Check] = append(byCheck[inst.Check], inst)
	}
	sort.Strings(names)
	for _, name := range names {
		insts := byCheck[name]
		class, source, err := loadClass(rt, cfg, name)
		if err != nil {
			first := insts[0]
			problems = append(problems, config.Problem{Check: name, File: first.File, Line: 0, Msg: describe(err)})
			continue
		}
		for _, inst := range insts {
			chk, err := class.NewCheck(name, inst.InitConfig, inst.Config)
			if err != nil {
				problems = append(problems, config.Problem{Check: name, File: inst.File, Line: inst.Line,
					Msg: fmt.Sprintf("instance %d: %s", inst.Index+1, describe(err))})
				continue
			}
			inst.InitConfig, inst.Config = nil, nil
			out = append(out, &Instance{Config: inst, Source: source, Check: chk})
		}
	}
	return out, problems
}

// describe renders an error, with the Python traceback when there is one.
func describe(err error) string {
	var pe *pyhost.PythonError
	if errors.As(err, &pe) && pe.Traceback != "" {
		return fmt.Sprintf("%s: %s\n%s", pe.Type, pe.Message, strings.TrimRight(pe.Traceback, "\n"))
	}
	return err.Error()
}
