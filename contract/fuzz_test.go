package contract

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

var fuzzSeeds = []string{
	"10", "-0", "1.5e-7", "1e400", "NaN", "-Infinity", "true", "null", "hello", "",
	" [1, 2.0, \"x\", null] ", `{"b": {"a": [true]}, "b": 2}`, `"\ud83d\ude00\ud800"`,
	`"\u0000\n\t\""`, "01", "1.", "[1,]", "\ufeff1", "123456789012345678901234567890",
	`{"é": "it's", "a": "\"q\""}`, "[[[[[[]]]]]]", `"\`, "1e", "-", "ça",
}

// FuzzDecodeHyperparameter checks the json.loads emulation's invariants:
// no panics, only the documented error, dumps output that decodes back to
// the same value, standard JSON whenever the value is finite, and
// agreement with encoding/json on every text both accept.
func FuzzDecodeHyperparameter(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return // Compute refuses these first; Python's str cannot hold them
		}
		v, err := decodeHyperparameter(s)
		if err != nil {
			if !errors.Is(err, errTooDeep) {
				t.Fatalf("%q: unexpected error %v", s, err)
			}
			return
		}
		checkRoundTrip(t, s, v)
		_, _, _ = pyStrOf(v), argValue(v), envValue(v)
		if utf8.ValidString(s) && json.Valid([]byte(s)) {
			checkAgainstGo(t, s, v)
		}
	})
}

func checkRoundTrip(t *testing.T, s string, v pyValue) {
	out := pyDumps(v)
	for i := 0; i < len(out); i++ {
		if out[i] >= 0x80 {
			t.Fatalf("%q: dumps is not ASCII: %q", s, out)
		}
	}
	// Dumps sorts keys, so compare renderings: equal dumps mean equal
	// values up to dict order (1 and 1.0, "1" and 1 all render apart).
	back, err := pyLoads(out)
	if err != nil || pyDumps(back) != out {
		t.Fatalf("%q: dumps %q decodes to %#v (%v)", s, out, back, err)
	}
	if finite(v) && !json.Valid([]byte(out)) {
		t.Fatalf("%q: dumps %q is not standard JSON", s, out)
	}
	if raw, ok := v.(pyStr); ok && string(raw) != s {
		if _, err := pyLoads(s); err != nil {
			t.Fatalf("%q: fallback %q is not the raw text", s, raw)
		}
	}
}

// finite reports whether v has no NaN or infinity, the values json.dumps
// writes in JavaScript's spelling rather than standard JSON.
func finite(v pyValue) bool {
	switch v := v.(type) {
	case pyFloat:
		return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0)
	case pyList:
		for _, e := range v {
			if !finite(e) {
				return false
			}
		}
	case pyDict:
		for _, it := range v {
			if !finite(it.val) {
				return false
			}
		}
	}
	return true
}

// checkAgainstGo: standard JSON is a subset of what json.loads takes, so
// encoding/json's reading must match, except past CPython's int limit.
func checkAgainstGo(t *testing.T, s string, v pyValue) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var g any
	if err := dec.Decode(&g); err != nil {
		t.Fatalf("%q: encoding/json: %v", s, err)
	}
	if raw, ok := v.(pyStr); ok && string(raw) == s && !strings.HasPrefix(strings.TrimLeft(s, " \t\r\n"), `"`) {
		if !hasLongInt(g) {
			t.Fatalf("%q: valid JSON kept raw", s)
		}
		return
	}
	if !sameAsGo(v, g) {
		t.Fatalf("%q: decoded %#v, encoding/json %#v", s, v, g)
	}
}

func hasLongInt(g any) bool {
	switch g := g.(type) {
	case json.Number:
		return len(strings.TrimLeft(g.String(), "-")) > maxIntDigits
	case []any:
		for _, e := range g {
			if hasLongInt(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range g {
			if hasLongInt(e) {
				return true
			}
		}
	}
	return false
}

// sameAsGo compares a decoded value with encoding/json's. Strings holding
// a lone surrogate are skipped: Go turns those into U+FFFD.
func sameAsGo(v pyValue, g any) bool {
	switch v := v.(type) {
	case pyNone:
		return g == nil
	case pyBool:
		return g == bool(v)
	case pyStr:
		return !utf8.ValidString(string(v)) || g == string(v)
	case pyInt, pyFloat:
		return sameNumber(v, g)
	case pyList:
		return sameList(v, g)
	case pyDict:
		return sameDict(v, g)
	}
	return false
}

func sameNumber(v pyValue, g any) bool {
	n, ok := g.(json.Number)
	if !ok {
		return false
	}
	if i, isInt := v.(pyInt); isInt {
		return !strings.ContainsAny(n.String(), ".eE") && (string(i) == n.String() || n.String() == "-0")
	}
	f, err := strconv.ParseFloat(n.String(), 64)
	return (err == nil || math.IsInf(f, 0)) && f == float64(v.(pyFloat))
}

func sameList(v pyList, g any) bool {
	gl, ok := g.([]any)
	if !ok || len(gl) != len(v) {
		return false
	}
	for i := range v {
		if !sameAsGo(v[i], gl[i]) {
			return false
		}
	}
	return true
}

func sameDict(v pyDict, g any) bool {
	gm, ok := g.(map[string]any)
	if !ok {
		return false
	}
	for _, it := range v {
		if !utf8.ValidString(string(it.key)) {
			return true // Go merges surrogate keys into U+FFFD
		}
	}
	if len(gm) != len(v) {
		return false
	}
	for _, it := range v {
		if !sameAsGo(it.val, gm[string(it.key)]) {
			return false
		}
	}
	return true
}

// FuzzCompute: any hyperparameter gives either an error or a tree whose
// environment a container can carry and whose JSON values are well formed.
func FuzzCompute(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add("k", s)
	}
	f.Add("a=b", "1")
	f.Add("ß", `"\ud800"`)
	f.Fuzz(func(t *testing.T, key, value string) {
		tree, err := Compute(Job{Name: "fuzz", InstanceCount: 1, NumCPUs: 1,
			Hyperparameters: map[string]string{key: value}})
		if err != nil {
			return
		}
		for _, kv := range tree.Env {
			k, v, _ := strings.Cut(kv, "=")
			if err := checkEnvEntry(k, v); err != nil {
				t.Fatal(err)
			}
		}
		_ = tree.EnvFile()
		for name, data := range tree.Files {
			if !json.Valid(data) {
				t.Fatalf("%s is not JSON: %s", name, data)
			}
		}
	})
}
