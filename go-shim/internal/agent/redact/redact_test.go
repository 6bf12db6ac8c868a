package redact

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretsAreMasked(t *testing.T) {
	r := New(map[string]any{
		"host":     "db.example",
		"password": "hunter2-long",
		"auth":     map[string]any{"user": "bob", "Token": "tok-123456"},
		"list":     []any{map[string]any{"api_key": "abcdef"}},
		"handle":   "ENC[db_password]",
		"port":     5432,
		"pwd":      "ab", // too short to mask safely
	}, map[string]any{"client_secret": "s3cr3t"})
	cases := map[string]string{
		"login failed for bob with hunter2-long":   "login failed for bob with ********",
		"Authorization: Bearer tok-123456":         "Authorization: Bearer ********",
		"key abcdef and s3cr3t":                    "key ******** and ********",
		"resolving ENC[db_password] failed":        "resolving ******** failed",
		"postgres://bob@db.example?password=xyzzy": "postgres://bob@db.example?password=********",
		`{"api_key": "zzz999", "x": 1}`:            `{"api_key": "********", "x": 1}`,
		"token: qwerty uiop":                       "token: ******** uiop",
		"nothing secret on db.example:5432":        "nothing secret on db.example:5432",
	}
	for in, want := range cases {
		if got := r.Text(in); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
	}
	if got := (*Redactor)(nil).Text("password=abc"); got != "password=********" {
		t.Errorf("nil redactor: %q", got)
	}
}

func TestHandlerMasksRecords(t *testing.T) {
	var buf bytes.Buffer
	r := New(map[string]any{"password": "hunter2-long"})
	logger := slog.New(r.Handler(slog.NewTextHandler(&buf, nil))).With("conn", "pw hunter2-long")
	logger.Error("connect with hunter2-long failed", "err", errors.New("auth hunter2-long"), slog.Group("g", "k", "hunter2-long"))
	if out := buf.String(); strings.Contains(out, "hunter2") || strings.Count(out, Mask) != 4 {
		t.Fatalf("log line: %s", out)
	}
}
