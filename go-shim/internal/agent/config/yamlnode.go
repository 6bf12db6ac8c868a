package config

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// lineMsg is one problem found inside a YAML document.
type lineMsg struct {
	line int
	msg  string
}

// parseYAML parses data into its root node (nil for an empty document).
// A syntax error comes back as the line it is on and the message.
func parseYAML(data []byte) (*yaml.Node, *lineMsg) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line, msg := syntaxErrorLine(err)
		// An error at the end of the input names the line after the last.
		if n := lineCount(data); line > n {
			line = n
		}
		return nil, &lineMsg{line, msg}
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		return doc.Content[0], nil
	}
	return nil, nil
}

func lineCount(data []byte) int {
	n := bytes.Count(data, []byte("\n"))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		n++
	}
	return n
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parserProblems are the messages yaml.v3 raises from its parser (not its
// scanner). For those it reports the 0-based line of the construct being
// parsed, so the 1-based line is one more.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// syntaxErrorLine turns a yaml.v3 parse error into (1-based line, message);
// line 0 when the error names no line.
func syntaxErrorLine(err error) (int, string) {
	text := err.Error()
	if m := yamlLineRE.FindStringSubmatch(text); m != nil {
		line, _ := strconv.Atoi(m[1])
		if parserProblems[m[2]] {
			line++
		}
		return line, "YAML syntax error: " + m[2]
	}
	msg := strings.TrimPrefix(text, "yaml: ")
	if parserProblems[msg] {
		// The construct starts on the first line (0-based line 0).
		return 1, "YAML syntax error: " + msg
	}
	return 0, "YAML syntax error: " + msg
}

// deref follows an alias to the node it names.
func deref(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// describe names a node's type (and short value) for messages.
func describe(n *yaml.Node) string {
	n = deref(n)
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 40 {
			v = v[:37] + "..."
		}
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!bool":
			return "boolean " + v
		case "!!int":
			return "integer " + v
		case "!!float":
			return "number " + v
		case "!!str":
			return "string " + strconv.Quote(v)
		default:
			return n.ShortTag() + " " + strconv.Quote(v)
		}
	}
	return "an unsupported YAML node"
}

// yaml11Bools are the plain scalars YAML 1.1 (and so the Datadog Agent, which
// reads check configurations with yaml.v2) takes as booleans, beyond
// true/false which yaml.v3 already resolves.
var yaml11Bools = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true,
	"on": true, "On": true, "ON": true,
	"n": false, "N": false, "no": false, "No": false, "NO": false,
	"off": false, "Off": false, "OFF": false,
}

// maxNodes bounds how many nodes one conversion may produce, so aliases
// cannot expand a small file into a huge value.
const maxNodes = 1 << 20

// converter turns YAML nodes into plain Go values: map[string]any, []any,
// string, int, float64, bool and nil (uint64 for integers above MaxInt64).
type converter struct {
	problems []lineMsg
	budget   int
	active   map[*yaml.Node]bool
}

func newConverter() *converter {
	return &converter{budget: maxNodes, active: map[*yaml.Node]bool{}}
}

func (c *converter) fail(line int, format string, args ...any) {
	c.problems = append(c.problems, lineMsg{line, fmt.Sprintf(format, args...)})
}

func (c *converter) value(n *yaml.Node) any {
	if n == nil {
		return nil
	}
	c.budget--
	if c.budget == 0 {
		c.fail(n.Line, "document too large (aliases expand to more than %d values)", maxNodes)
	}
	if c.budget <= 0 {
		return nil
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return c.value(n.Content[0])
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil
		}
		if c.active[n.Alias] {
			c.fail(n.Line, "alias *%s refers to a value that contains it", n.Value)
			return nil
		}
		c.active[n.Alias] = true
		v := c.value(n.Alias)
		delete(c.active, n.Alias)
		return v
	case yaml.MappingNode:
		return c.mapping(n)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			out = append(out, c.value(item))
		}
		return out
	case yaml.ScalarNode:
		return c.scalar(n)
	}
	c.fail(n.Line, "unsupported YAML node")
	return nil
}

func (c *converter) mapping(n *yaml.Node) map[string]any {
	out := make(map[string]any, len(n.Content)/2)
	seen := make(map[string]int, len(n.Content)/2)
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		kn := deref(k)
		if kn.Kind != yaml.ScalarNode {
			c.fail(k.Line, "a mapping key must be a string, found %s", describe(kn))
			continue
		}
		key := kn.Value
		if first, dup := seen[key]; dup {
			c.fail(k.Line, "duplicate key %q (first at line %d)", key, first)
			continue
		}
		seen[key] = k.Line
		out[key] = c.value(v)
	}
	// Merged keys (<<: *anchor) never override explicit ones; with a list
	// of merged mappings the earlier wins.
	for _, m := range merges {
		var sources []*yaml.Node
		switch dm := deref(m); dm.Kind {
		case yaml.MappingNode:
			sources = []*yaml.Node{m}
		case yaml.SequenceNode:
			sources = dm.Content
		}
		if sources == nil {
			c.fail(m.Line, "<< must merge a mapping or a list of mappings, found %s", describe(m))
			continue
		}
		for _, s := range sources {
			if deref(s).Kind != yaml.MappingNode {
				c.fail(s.Line, "<< must merge a mapping or a list of mappings, found %s", describe(s))
				continue
			}
			mv, _ := c.value(s).(map[string]any)
			for k, v := range mv {
				if _, ok := out[k]; !ok {
					out[k] = v
				}
			}
		}
	}
	return out
}

func (c *converter) scalar(n *yaml.Node) any {
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			c.fail(n.Line, "invalid boolean %q", n.Value)
			return nil
		}
		return b
	case "!!int":
		var v any
		if err := n.Decode(&v); err != nil {
			c.fail(n.Line, "invalid integer %q", n.Value)
			return nil
		}
		// int, or uint64 above MaxInt64; a larger integer resolves as float64.
		if u, ok := v.(uint64); ok && u <= math.MaxInt {
			return int(u)
		}
		return v
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			c.fail(n.Line, "invalid number %q", n.Value)
			return nil
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			c.fail(n.Line, "%s is not supported (values must be JSON numbers)", n.Value)
			return nil
		}
		return f
	case "!!binary":
		var s string
		if err := n.Decode(&s); err != nil {
			c.fail(n.Line, "invalid !!binary value")
			return nil
		}
		return s
	case "!!str":
		if n.Style == 0 {
			if b, ok := yaml11Bools[n.Value]; ok {
				return b
			}
		}
		return n.Value
	}
	// Timestamps and custom tags keep their text.
	return n.Value
}

// toPlain converts n; the problems found are returned with their lines.
func toPlain(n *yaml.Node) (any, []lineMsg) {
	c := newConverter()
	v := c.value(n)
	return v, c.problems
}

// numberSeconds reads a YAML int or float as a number of seconds.
func numberSeconds(n *yaml.Node) (float64, error) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		return 0, fmt.Errorf("expected a number of seconds, found %s", describe(n))
	}
	var f float64
	switch n.ShortTag() {
	case "!!int", "!!float":
		if err := n.Decode(&f); err != nil {
			return 0, fmt.Errorf("invalid number %q", n.Value)
		}
	case "!!str":
		// A quoted number ("5"), as datadog_checks_base reads it with float().
		v, err := strconv.ParseFloat(strings.TrimSpace(n.Value), 64)
		if err != nil {
			return 0, fmt.Errorf("expected a number of seconds, found %s", describe(n))
		}
		f = v
	default:
		return 0, fmt.Errorf("expected a number of seconds, found %s", describe(n))
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("expected a number of seconds, found %s", n.Value)
	}
	return f, nil
}

var errNegative = errors.New("must not be negative")
