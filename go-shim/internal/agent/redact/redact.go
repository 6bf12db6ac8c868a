// Package redact keeps secrets out of what the agent shows: /status, the
// status page, its logs and `check --json`. A secret is the value of an
// instance (or init_config) key that names one — password, api_key, token,
// secret… — or a Datadog secret handle (ENC[...]); every place the agent
// shows text a check produced (errors, tracebacks, warnings, log records)
// passes through a Redactor, which replaces those values, and anything of
// the form `password=...` / `token: ...`, with "********".
package redact

import (
	"context"
	"log/slog"
	"regexp"
	"slices"
	"strings"
)

// Mask replaces a secret.
const Mask = "********"

// secretKey matches the configuration keys whose values are secrets.
var secretKey = regexp.MustCompile(`(?i)(password|passwd|passphrase|^pass$|^pwd$|_pwd$|secret|token|api_?key|app_?key|private_?key|credential)`)

// inline matches `key=value` and `key: value` for those keys in free text
// (a connection string, a log line).
var inline = regexp.MustCompile(`(?i)\b((?:[a-z_]*)(?:password|passwd|pwd|secret|token|api_?key|app_?key|private_?key))(["']?\s*[:=]\s*["']?)([^\s"',;&]+)`)

// handle matches a Datadog secret handle.
var handle = regexp.MustCompile(`ENC\[[^\]]*\]`)

// Redactor replaces known secrets in text. The zero value redacts only
// inline `key=value` secrets and handles.
type Redactor struct {
	secrets []string // longest first, so one secret inside another is masked whole
}

// New collects the secrets in the given configurations (nested maps and
// lists of plain YAML values).
func New(configs ...map[string]any) *Redactor {
	r := &Redactor{}
	for _, c := range configs {
		r.collect(c, false)
	}
	slices.SortFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
	r.secrets = slices.Compact(r.secrets)
	return r
}

func (r *Redactor) collect(v any, secret bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, val := range v {
			r.collect(val, secret || secretKey.MatchString(k))
		}
	case []any:
		for _, val := range v {
			r.collect(val, secret)
		}
	case string:
		// Very short values would mask ordinary words everywhere.
		if (secret && len(v) >= 3) || handle.MatchString(v) {
			r.secrets = append(r.secrets, v)
		}
	}
}

// Text returns s with every secret masked.
func (r *Redactor) Text(s string) string {
	if s == "" {
		return s
	}
	if r != nil {
		for _, secret := range r.secrets {
			if strings.Contains(s, secret) {
				s = strings.ReplaceAll(s, secret, Mask)
			}
		}
	}
	s = handle.ReplaceAllString(s, Mask)
	return inline.ReplaceAllString(s, "${1}${2}"+Mask)
}

// All masks secrets in each string of ss, in place, and returns it.
func (r *Redactor) All(ss []string) []string {
	for i, s := range ss {
		ss[i] = r.Text(s)
	}
	return ss
}

// Handler masks secrets in the message and string attributes of every
// record before passing it on.
func (r *Redactor) Handler(next slog.Handler) slog.Handler {
	return &handler{r: r, next: next}
}

type handler struct {
	r    *Redactor
	next slog.Handler
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.Text(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *handler) attr(a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.Text(a.Value.String()))
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			return slog.String(a.Key, h.r.Text(err.Error()))
		}
	case slog.KindGroup:
		attrs := a.Value.Group()
		out := make([]any, len(attrs))
		for i, g := range attrs {
			out[i] = h.attr(g)
		}
		return slog.Group(a.Key, out...)
	}
	return a
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	masked := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		masked[i] = h.attr(a)
	}
	return &handler{r: h.r, next: h.next.WithAttrs(masked)}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{r: h.r, next: h.next.WithGroup(name)}
}
