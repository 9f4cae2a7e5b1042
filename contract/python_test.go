package contract

import (
	"encoding/base64"
	"errors"
	"math"
	"strings"
	"testing"
)

// pythonCase is one entry of testdata/python/cases.json, which gen.py made
// with CPython and the toolkit's own mapping module.
type pythonCase struct {
	In     string `json:"in"`
	Raw    bool   `json:"raw"`
	Dumps  string `json:"dumps"`
	Str    string `json:"str"`
	StrB64 string `json:"str_b64"`
	Env    string `json:"env"`
	EnvB64 string `json:"env_b64"`
	Arg    string `json:"arg"`
	ArgB64 string `json:"arg_b64"`
}

// text returns a rendered field, decoding the base64 form used for texts
// holding lone surrogates (WTF-8, as pyStr keeps them).
func text(t *testing.T, plain, b64 string) string {
	if b64 == "" {
		return plain
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPythonCases replays how Python decoded and rendered each value: the
// json.loads fallback, json.dumps, str(), to_env_vars and to_cmd_args.
func TestPythonCases(t *testing.T) {
	var file struct {
		Python string       `json:"python"`
		Cases  []pythonCase `json:"cases"`
	}
	readJSON(t, "testdata/python/cases.json", &file)
	if len(file.Cases) < 100 {
		t.Fatalf("only %d cases", len(file.Cases))
	}
	for _, c := range file.Cases {
		v, err := decodeHyperparameter(c.In)
		if err != nil {
			t.Errorf("%q: %v", c.In, err)
			continue
		}
		_, isRaw := pyLoads(c.In)
		check := func(what, got, want string) {
			if got != want {
				t.Errorf("%q %s:\n got %q\nwant %q (Python %s)", c.In, what, got, want, file.Python)
			}
		}
		check("raw", boolText(isRaw != nil), boolText(c.Raw))
		check("json.dumps", pyDumps(v), c.Dumps)
		check("str()", pyStrOf(v), text(t, c.Str, c.StrB64))
		check("to_env_vars", envValue(v), text(t, c.Env, c.EnvB64))
		check("to_cmd_args", argValue(v), text(t, c.Arg, c.ArgB64))
	}
}

func boolText(b bool) string { return map[bool]string{true: "True", false: "False"}[b] }

// TestIntDigitLimit: CPython refuses ints of more than 4300 digits (sign
// not counted), so the toolkit keeps such a value as a string.
func TestIntDigitLimit(t *testing.T) {
	digits := strings.Repeat("7", maxIntDigits)
	for in, wantRaw := range map[string]bool{
		digits:              false,
		"-" + digits:        false,
		digits + "7":        true,
		"[" + digits + "]":  false,
		"[" + digits + "7]": true,
		"0." + digits + "7": false, // floats have no such limit
	} {
		v, err := decodeHyperparameter(in)
		if err != nil {
			t.Fatal(err)
		}
		if _, raw := v.(pyStr); raw != wantRaw {
			t.Errorf("%d chars: raw %v, want %v", len(in), raw, wantRaw)
		}
	}
}

// TestNestingLimit: json.loads raises RecursionError on deep nesting, the
// toolkit does not catch it, so jobrun reports an error instead.
func TestNestingLimit(t *testing.T) {
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	if _, err := decodeHyperparameter(nest(maxNesting)); err != nil {
		t.Errorf("depth %d: %v", maxNesting, err)
	}
	if _, err := decodeHyperparameter(nest(maxNesting + 1)); !errors.Is(err, errTooDeep) {
		t.Errorf("depth %d: got %v, want errTooDeep", maxNesting+1, err)
	}
	if _, err := decodeHyperparameter(strings.Repeat("[", 5000)); !errors.Is(err, errTooDeep) {
		t.Errorf("unclosed depth 5000: got %v, want errTooDeep (Python recurses before it fails)", err)
	}
	_, err := Compute(Job{Name: "j", InstanceCount: 1, NumCPUs: 1,
		Hyperparameters: map[string]string{"deep": nest(2000)}})
	if err == nil || !strings.Contains(err.Error(), `hyperparameter "deep"`) {
		t.Errorf("Compute: got %v, want an error naming the hyperparameter", err)
	}
}

// TestFloatRepr pins Python's repr(float) at the points where it differs
// from Go's formatting.
func TestFloatRepr(t *testing.T) {
	for f, want := range map[float64]string{
		0: "0.0", 1: "1.0", 10: "10.0", 0.05: "0.05", 1e-5: "1e-05", 1e-4: "0.0001",
		1e15: "1000000000000000.0", 1e16: "1e+16", 1.5e16: "1.5e+16", 123456789.125: "123456789.125",
		1e100: "1e+100", 1.7976931348623157e308: "1.7976931348623157e+308", 5e-324: "5e-324",
		-2.5e-7: "-2.5e-07", 1e6: "1000000.0", 0.30000000000000004: "0.30000000000000004",
		math.Copysign(0, -1): "-0.0", math.Inf(1): "inf", math.Inf(-1): "-inf",
	} {
		if got := floatRepr(f); got != want {
			t.Errorf("repr(%v) = %q, want %q", f, got, want)
		}
	}
	if got := floatRepr(math.NaN()); got != "nan" {
		t.Errorf("repr(nan) = %q", got)
	}
	if got := jsonFloat(math.NaN()) + jsonFloat(math.Inf(-1)); got != "NaN-Infinity" {
		t.Errorf("json.dumps(nan, -inf) = %q", got)
	}
}

// TestUpper: str.upper() is applied to every SM_* name, full case mapping.
func TestUpper(t *testing.T) {
	for in, want := range map[string]string{
		"learning-rate": "LEARNING-RATE", "a.b": "A.B", "straße": "STRASSE",
		"ﬁle": "FILE", "ǅ": "Ǆ", "ı": "I", "ß": "SS", "ŉ": "ʼN", "é1_x": "É1_X",
	} {
		if got := pyUpper(in); got != want {
			t.Errorf("upper(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestUserArgs pins to_cmd_args beyond the single values of cases.json:
// key order, "-k" for one-character keys, "" for an empty key.
func TestUserArgs(t *testing.T) {
	hps := pyDict{
		{"zeta", pyInt("1")}, {"k", pyBool(true)}, {"", pyStr("e")},
		{"d", pyDict{{"b", pyNone{}}, {"a", pyList{pyStr("x")}}}},
	}
	got := pyDumps(userArgs(hps))
	want := `["","e","-d","a=['x'],b=None","-k","True","--zeta","1"]`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
