package agent

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
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
	"secs":    func(v float64) string { return fmt.Sprintf("%.3f", v) },
	"pct":     func(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) },
	"bytes":   HumanBytes,
	"seconds": func(v float64) string { return time.Duration(v * float64(time.Second)).Round(time.Second).String() },
}).ParseFS(templates, "templates/status.html"))

// statusView is what the status page renders: the status, and its checks
// again in the order of one cost ("which check costs the most").
type statusView struct {
	Status
	Sort  string
	Costs []CheckStatus
}

// HumanBytes writes a byte count in binary units (the status page, the CLI).
func HumanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Handler serves /metrics, /status, /healthz, the status page at /, and
// the modules' API under /api/ (see modules.go).
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	a.moduleHandlers(mux)

	mux.Handle("GET /metrics", promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{
		ErrorLog:      slogPrinter{a},
		ErrorHandling: promhttp.ContinueOnError, // one bad series never hides the rest
	}))
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		st := a.Status()
		if order := r.URL.Query().Get("sort"); order != "" && !SortByCost(st.Instances, order) {
			writeJSON(w, http.StatusBadRequest, map[string]string{
				"error": fmt.Sprintf("unknown sort %q; one of %s", order, strings.Join(slices.Sorted(maps.Keys(CostOrders)), ", ")),
			})
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if a.stopping.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		page := statusView{Status: a.Status(), Sort: r.URL.Query().Get("sort")}
		if _, ok := CostOrders[page.Sort]; !ok {
			page.Sort = "cpu"
		}
		page.Costs = slices.Clone(page.Instances)
		SortByCost(page.Costs, page.Sort)
		if err := statusPage.Execute(w, page); err != nil {
			a.logger.Error("status page", "err", err)
		}
	})
	return a.requireToken(mux)
}

// TokenFile is where the agent writes its API token at start, readable by
// its own user only: requests that change state carry it as
// "Authorization: Bearer <token>" (the CLI reads it from the run directory).
const TokenFile = "api_token"

// newToken writes a fresh random token into run_dir/api_token (mode 0600).
func newToken(runDir string) (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	token := hex.EncodeToString(raw)
	if err := os.MkdirAll(runDir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(runDir, TokenFile)
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(token+"\n"), 0o600); err != nil {
		return "", err
	}
	return token, os.Rename(tmp, path)
}

// requireToken lets reads through and refuses every other method without
// the API token (401), wherever the agent listens.
func (a *Agent) requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(a.token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="pyhost-agent"`)
				http.Error(w, "this request needs the agent's API token: Authorization: Bearer <run_dir/api_token>",
					http.StatusUnauthorized)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// slogPrinter routes promhttp's error log into the agent's logger.
type slogPrinter struct{ a *Agent }

func (p slogPrinter) Println(v ...any) {
	p.a.logger.Error("metrics endpoint", "err", strings.TrimSpace(fmt.Sprintln(v...)))
}
