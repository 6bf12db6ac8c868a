package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"pyhost.dev/pyhost/internal/agent"
	"pyhost.dev/pyhost/internal/agent/config"
	"pyhost.dev/pyhost/modules"
)

const moduleUsage = `Usage:
  pyhost-agent module list [--config FILE | --listen ADDR] [--json]
  pyhost-agent module command [--config FILE | --listen ADDR --run-dir DIR] MODULE COMMAND [--ARG VALUE ...]

A command's arguments are --NAME VALUE (or --arg NAME=VALUE), typed from its
schema (see 'module list'): ints,
floats, bools (true/false, or the flag alone), a list by repeating the flag
(--tag a --tag b), null for an optional one. The API token is read from the
agent's run directory. After MODULE COMMAND, --config, --listen and --run-dir
are still the agent's, never the command's.
`

func cmdModule(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, moduleUsage)
		return agent.ExitUsage
	}
	switch args[0] {
	case "list":
		return cmdModuleList(args[1:], stdout, stderr)
	case "command":
		return cmdModuleCommand(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, moduleUsage)
		return agent.ExitOK
	}
	fmt.Fprintf(stderr, "pyhost-agent module: unknown subcommand %q\n\n%s", args[0], moduleUsage)
	return agent.ExitUsage
}

func cmdModuleList(args []string, stdout, stderr io.Writer) int {
	f := newFlags("module list", stderr).withServer()
	asJSON := f.fs.Bool("json", false, "print the agent's /api/modules JSON as it is")
	if err := f.fs.Parse(args); err != nil {
		return agent.ExitUsage
	}
	cfg, err := f.load()
	if err != nil {
		fmt.Fprintf(stderr, "pyhost-agent: %v\n", err)
		return agent.ExitUsage
	}
	raw, list, err := fetchModules(cfg.Listen)
	if err != nil {
		fmt.Fprintf(stderr, "pyhost-agent: no agent answering on %s: %v\n", cfg.Listen, err)
		return agent.ExitCheckFailed
	}
	if *asJSON {
		_, _ = stdout.Write(raw)
		return agent.ExitOK
	}
	if len(list) == 0 {
		fmt.Fprintln(stdout, "no module is configured")
		return agent.ExitOK
	}
	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "MODULE\tSTATE\tRESTARTS\tNOTIFICATIONS\tHEALTH\tCOMMANDS")
	for _, m := range list {
		var cmds []string
		for _, c := range m.Commands {
			cmds = append(cmds, c.Name)
		}
		var health []string
		for code, hc := range m.Health {
			health = append(health, code+"("+hc.Severity+")")
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", m.Name, m.State, m.Restarts, m.Notifications,
			orDash(strings.Join(health, " ")), orDash(strings.Join(cmds, " ")))
	}
	_ = tw.Flush()
	for _, m := range list {
		for _, c := range m.Commands {
			fmt.Fprintf(stdout, "\n%s %s%s\n", m.Name, c.Name, argumentsUsage(c))
			if c.Help != "" {
				fmt.Fprintf(stdout, "    %s\n", strings.ReplaceAll(c.Help, "\n", "\n    "))
			}
		}
	}
	return agent.ExitOK
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func argumentsUsage(c modules.Command) string {
	var b strings.Builder
	for _, a := range c.Arguments {
		typ := a.Type
		if len(a.Choices) > 0 {
			var cs []string
			for _, c := range a.Choices {
				cs = append(cs, fmt.Sprint(c))
			}
			typ = strings.Join(cs, "|")
		}
		if a.Required {
			fmt.Fprintf(&b, " --%s %s", a.Name, typ)
		} else {
			fmt.Fprintf(&b, " [--%s %s]", a.Name, typ)
		}
	}
	return b.String()
}

func fetchModules(listen string) ([]byte, []modules.Status, error) {
	var body struct {
		Modules []modules.Status `json:"modules"`
	}
	raw, err := getJSON(listen, "/api/modules", &body)
	return raw, body.Modules, err
}

// agentFlags are the flags after MODULE COMMAND that still belong to the agent.
var agentFlags = map[string]bool{"config": true, "listen": true, "run-dir": true}

func cmdModuleCommand(args []string, stdout, stderr io.Writer) int {
	f := newFlags("module command", stderr).withServer()
	if err := f.fs.Parse(args); err != nil {
		return agent.ExitUsage
	}
	rest := f.fs.Args()
	if len(rest) < 2 {
		fmt.Fprint(stderr, "pyhost-agent module command: expected MODULE COMMAND\n\n"+moduleUsage)
		return agent.ExitUsage
	}
	name, cmd := rest[0], rest[1]
	given, agentArgs, err := splitArguments(rest[2:])
	if err != nil {
		fmt.Fprintf(stderr, "pyhost-agent module command: %v\n", err)
		return agent.ExitUsage
	}
	if err := f.fs.Parse(agentArgs); err != nil {
		return agent.ExitUsage
	}
	cfg, err := f.load()
	if err != nil {
		fmt.Fprintf(stderr, "pyhost-agent: %v\n", err)
		return agent.ExitUsage
	}
	_, list, err := fetchModules(cfg.Listen)
	if err != nil {
		fmt.Fprintf(stderr, "pyhost-agent: no agent answering on %s: %v\n", cfg.Listen, err)
		return agent.ExitCheckFailed
	}
	schema, err := findCommand(list, name, cmd)
	if err != nil {
		fmt.Fprintf(stderr, "pyhost-agent: %v\n", err)
		return agent.ExitUsage
	}
	typed, err := typeArguments(schema, given)
	if err != nil {
		fmt.Fprintf(stderr, "pyhost-agent: %s %s: %v\n", name, cmd, err)
		return agent.ExitUsage
	}
	token, err := readToken(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "pyhost-agent: %v\n", err)
		return agent.ExitUsage
	}
	status, body, err := postCommand(cfg.Listen, token, name, cmd, typed)
	if err != nil {
		fmt.Fprintf(stderr, "pyhost-agent: %v\n", err)
		return agent.ExitCheckFailed
	}
	if status != http.StatusOK {
		var e struct {
			Error string `json:"error"`
			Type  string `json:"type"`
		}
		_ = json.Unmarshal(body, &e)
		msg := e.Error
		if e.Type != "" {
			msg = e.Type + ": " + msg
		}
		fmt.Fprintf(stderr, "pyhost-agent: %s %s: %d %s: %s\n", name, cmd, status, http.StatusText(status), msg)
		return agent.ExitCheckFailed
	}
	var out struct {
		Result any `json:"result"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		fmt.Fprintf(stderr, "pyhost-agent: %v\n", err)
		return agent.ExitCheckFailed
	}
	writeJSON(stdout, out.Result)
	return agent.ExitOK
}

// splitArguments reads --NAME VALUE, --NAME=VALUE and a bare --NAME (a
// true bool) into the command's arguments, and the agent's own flags apart.
func splitArguments(args []string) (map[string][]*string, []string, error) {
	given := map[string][]*string{}
	var agentArgs []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return nil, nil, fmt.Errorf("unexpected %q (arguments are --NAME VALUE)", a)
		}
		key := strings.TrimLeft(a, "-")
		var value *string
		if k, v, ok := strings.Cut(key, "="); ok {
			key, value = k, &v
		} else if i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
			v := args[i+1]
			value = &v
			i++
		}
		if agentFlags[key] {
			if value == nil {
				return nil, nil, fmt.Errorf("--%s needs a value", key)
			}
			agentArgs = append(agentArgs, "--"+key, *value)
			continue
		}
		given[strings.ReplaceAll(key, "-", "_")] = append(given[strings.ReplaceAll(key, "-", "_")], value)
	}
	return given, agentArgs, nil
}

func findCommand(list []modules.Status, name, cmd string) (modules.Command, error) {
	for _, m := range list {
		if m.Name != name {
			continue
		}
		var names []string
		for _, c := range m.Commands {
			if c.Name == cmd {
				return c, nil
			}
			names = append(names, c.Name)
		}
		return modules.Command{}, fmt.Errorf("module %s has no command %q (its commands: %s)", name, cmd,
			orDash(strings.Join(names, ", ")))
	}
	return modules.Command{}, fmt.Errorf("the agent has no module %q", name)
}

// typeArguments converts the command line's strings as the schema types them.
func typeArguments(c modules.Command, given map[string][]*string) (map[string]any, error) {
	out := map[string]any{}
	byName := map[string]modules.Argument{}
	for _, a := range c.Arguments {
		byName[a.Name] = a
	}
	// --arg NAME=VALUE, for a command with no argument named "arg".
	if pairs, ok := given["arg"]; ok && byName["arg"].Name == "" {
		delete(given, "arg")
		for _, p := range pairs {
			if p == nil {
				return nil, errors.New("--arg needs NAME=VALUE")
			}
			k, v, ok := strings.Cut(*p, "=")
			if !ok {
				return nil, fmt.Errorf("--arg %q: expected NAME=VALUE", *p)
			}
			given[k] = append(given[k], &v)
		}
	}
	for name, values := range given {
		a, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("unknown argument --%s (usage: %s)", name, strings.TrimSpace(argumentsUsage(c)))
		}
		if item, isList := strings.CutPrefix(a.Type, "list["); isList {
			item = strings.TrimSuffix(item, "]")
			list := []any{}
			for _, v := range values {
				if v == nil {
					return nil, fmt.Errorf("--%s needs a value", name)
				}
				x, err := typedArgument(item, a.Choices, *v)
				if err != nil {
					return nil, fmt.Errorf("--%s: %v", name, err)
				}
				list = append(list, x)
			}
			out[name] = list
			continue
		}
		if len(values) > 1 {
			return nil, fmt.Errorf("--%s given %d times", name, len(values))
		}
		v := values[0]
		switch {
		case v == nil && a.Type == "bool":
			out[name] = true
		case v == nil:
			return nil, fmt.Errorf("--%s needs a value", name)
		case a.Nullable && *v == "null":
			out[name] = nil
		default:
			x, err := typedArgument(a.Type, a.Choices, *v)
			if err != nil {
				return nil, fmt.Errorf("--%s: %v", name, err)
			}
			out[name] = x
		}
	}
	for _, a := range c.Arguments {
		if _, ok := out[a.Name]; !ok && a.Required {
			return nil, fmt.Errorf("missing --%s (usage: %s)", a.Name, strings.TrimSpace(argumentsUsage(c)))
		}
	}
	return out, nil
}

// typedArgument is v as the argument's type makes it; for an enum, the
// choice it spells (an IntEnum's 1 is the number 1, not the text "1").
func typedArgument(typ string, choices []any, v string) (any, error) {
	for _, c := range choices {
		if fmt.Sprint(c) == v {
			return c, nil
		}
	}
	return typed(typ, v)
}

func typed(typ, v string) (any, error) {
	switch typ {
	case "int":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("expected an int, found %q", v)
		}
		return n, nil
	case "float":
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("expected a number, found %q", v)
		}
		return x, nil
	case "bool":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("expected true or false, found %q", v)
		}
		return b, nil
	case "any":
		var x any
		if json.Unmarshal([]byte(v), &x) == nil {
			return x, nil
		}
	}
	return v, nil // str and enum values (the agent checks the choices)
}

// readToken reads the API token the agent wrote into its run directory.
func readToken(cfg config.Config) (string, error) {
	path := filepath.Join(cfg.RunDir, agent.TokenFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("the agent's API token: %w (is --config or --run-dir the running agent's?)", err)
	}
	token := strings.TrimSpace(string(raw))
	if token == "" {
		return "", errors.New("the agent's API token file is empty: " + path)
	}
	return token, nil
}

func postCommand(listen, token, name, cmd string, args map[string]any) (int, []byte, error) {
	body, err := json.Marshal(args)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+listen+"/api/modules/"+name+"/commands/"+cmd,
		bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	client := http.Client{Timeout: 2 * time.Minute}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}
