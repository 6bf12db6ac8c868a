package agent

import (
	"math/big"
	"net/http/httptest"
	"strings"
	"testing"
)

// A command's arguments over HTTP: integers stay exact (past int64 too),
// and what cannot be an argument is the client's error (400), not a
// command failure.
func TestCommandArgumentsAreDecodedExactlyOrRefused(t *testing.T) {
	decode := func(body string) (map[string]any, error) {
		return decodeArguments(httptest.NewRequest("POST", "/api/modules/m/commands/c", strings.NewReader(body)))
	}
	args, err := decode(`{"small": 7, "huge": 123456789012345678901234567890, "ratio": 0.5, "list": [1, 2.5, {"n": -3}]}`)
	if err != nil {
		t.Fatal(err)
	}
	huge, _ := new(big.Int).SetString("123456789012345678901234567890", 10)
	if args["small"] != int64(7) || args["ratio"] != 0.5 || args["huge"].(*big.Int).Cmp(huge) != 0 {
		t.Fatalf("args: %#v", args)
	}
	list := args["list"].([]any)
	if list[0] != int64(1) || list[1] != 2.5 || list[2].(map[string]any)["n"] != int64(-3) {
		t.Fatalf("list: %#v", list)
	}
	if args, err := decode(""); err != nil || len(args) != 0 {
		t.Fatalf("an empty body: %v %v", args, err)
	}
	deep := strings.Repeat("[", 3000) + strings.Repeat("]", 3000)
	for body, want := range map[string]string{
		`{"x": 1e400}`:            "out of range",
		`{"x": 1} garbage`:        "nothing after it",
		`{"x": 1} {"y": 2}`:       "nothing after it",
		`[1, 2]`:                  "a JSON object",
		`{"x": ` + deep + `}`:     "nest deeper",
		`{"x": [[[[1e999]]]]}`:    "out of range",
		`{"x": {"y": -1e309}}`:    "out of range",
		`{"x": "unterminated}`:    "JSON object of arguments",
		`{"x": 1, "x": 1e400 }`:   "out of range",
		`{"list": [1, 2, 3e500]}`: "out of range",
	} {
		if _, err := decode(body); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.40s: %v, want an error saying %q", body, err, want)
		}
	}
}
