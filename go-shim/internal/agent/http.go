package agent

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

//go:embed templates/status.html
var templates embed.FS

var statusPage = template.Must(template.New("status.html").Funcs(template.FuncMap{
	"ago": func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return time.Since(*t).Round(time.Second).String() + " ago"
	},
	"ms":      func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"seconds": func(v float64) string { return time.Duration(v * float64(time.Second)).Round(time.Second).String() },
}).ParseFS(templates, "templates/status.html"))

// Handler serves /metrics, /status, /healthz and the status page at /.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{
		ErrorLog:      slogPrinter{a},
		ErrorHandling: promhttp.ContinueOnError, // one bad series never hides the rest
	}))
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(a.Status())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if a.stopping.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := statusPage.Execute(w, a.Status()); err != nil {
			a.logger.Error("status page", "err", err)
		}
	})
	return mux
}

// slogPrinter routes promhttp's error log into the agent's logger.
type slogPrinter struct{ a *Agent }

func (p slogPrinter) Println(v ...any) {
	p.a.logger.Error("metrics endpoint", "err", strings.TrimSpace(fmt.Sprintln(v...)))
}
