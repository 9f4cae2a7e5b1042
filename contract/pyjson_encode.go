package contract

import (
	"math"
	"sort"
	"strconv"
	"strings"
)

// jsonStyle selects between the two JSON forms jobrun writes.
type jsonStyle struct {
	sortKeys bool // json.dumps(sort_keys=True)
	ascii    bool // json.dumps(ensure_ascii=True): \uXXXX for non-ASCII
}

var (
	// toolkitJSON is mapping.to_env_vars' json.dumps(sort_keys=True,
	// separators=(",", ":"), ensure_ascii=True), used for every SM_* value
	// that is not a string.
	toolkitJSON = jsonStyle{sortKeys: true, ascii: true}
	// fileJSON keeps insertion order (SageMaker's key order in the config
	// files) and writes UTF-8 as is; separators are compact as well.
	fileJSON = jsonStyle{}
)

// pyDumps renders v in the toolkit's JSON form.
func pyDumps(v pyValue) string { return toolkitJSON.encode(v) }

func (st jsonStyle) encode(v pyValue) string {
	var b strings.Builder
	st.write(&b, v)
	return b.String()
}

func (st jsonStyle) write(b *strings.Builder, v pyValue) {
	switch v := v.(type) {
	case pyNone:
		b.WriteString("null")
	case pyBool:
		b.WriteString(strconv.FormatBool(bool(v)))
	case pyInt:
		b.WriteString(string(v))
	case pyFloat:
		b.WriteString(jsonFloat(float64(v)))
	case pyStr:
		st.writeString(b, string(v))
	case pyList:
		st.writeList(b, v)
	case pyDict:
		st.writeDict(b, v)
	}
}

func (st jsonStyle) writeList(b *strings.Builder, l pyList) {
	b.WriteByte('[')
	for i, v := range l {
		if i > 0 {
			b.WriteByte(',')
		}
		st.write(b, v)
	}
	b.WriteByte(']')
}

func (st jsonStyle) writeDict(b *strings.Builder, d pyDict) {
	if st.sortKeys {
		d = sortedItems(d)
	}
	b.WriteByte('{')
	for i, it := range d {
		if i > 0 {
			b.WriteByte(',')
		}
		st.writeString(b, string(it.key))
		b.WriteByte(':')
		st.write(b, it.val)
	}
	b.WriteByte('}')
}

// sortedItems orders by key as Python's sorted() orders str: by code
// point, which byte order of (WTF-)UTF-8 preserves.
func sortedItems(d pyDict) pyDict {
	s := append(pyDict(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i].key < s[j].key })
	return s
}

// jsonEscapes are the short escapes json.dumps uses.
var jsonEscapes = [128]string{
	'"': `\"`, '\\': `\\`, '\b': `\b`, '\f': `\f`, '\n': `\n`, '\r': `\r`, '\t': `\t`,
}

// writeString quotes s as json.dumps does. With ascii, everything outside
// ' '..'~' becomes \uXXXX (lower-case hex, astral code points as a
// surrogate pair); without, only quotes, backslashes and controls do.
func (st jsonStyle) writeString(b *strings.Builder, s string) {
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for len(s) > 0 {
		r, n := nextRune(s)
		switch {
		case r < 128 && jsonEscapes[r] != "":
			b.WriteString(jsonEscapes[r])
		case r < 0x20 || (st.ascii && r > '~'):
			writeUEscape(b, r)
		default:
			b.WriteString(s[:n])
		}
		s = s[n:]
	}
	b.WriteByte('"')
}

func writeUEscape(b *strings.Builder, r rune) {
	if r >= 0x10000 {
		r -= 0x10000
		writeUEscape(b, 0xD800|(r>>10)&0x3FF)
		writeUEscape(b, 0xDC00|r&0x3FF)
		return
	}
	const hex = "0123456789abcdef"
	b.WriteString(`\u`)
	for shift := 12; shift >= 0; shift -= 4 {
		b.WriteByte(hex[r>>shift&0xF])
	}
}

// jsonFloat is json.dumps' float: repr, or the JavaScript names for the
// non-finite values (allow_nan=True is the default).
func jsonFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return floatRepr(f)
}

// floatRepr is Python's repr(float): the shortest digits that round-trip,
// in positional form when the decimal exponent is in [-4, 16), else as
// d.ddde±XX; positional integers get ".0". Go's 'g' switches to exponents
// at different points (1e+06 vs Python's 1000000.0), so build it here.
func floatRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 0):
		return map[bool]string{false: "inf", true: "-inf"}[f < 0]
	}
	mant, exp, _ := strings.Cut(strconv.FormatFloat(f, 'e', -1, 64), "e")
	sign := ""
	if strings.HasPrefix(mant, "-") {
		sign, mant = "-", mant[1:]
	}
	digits := strings.Replace(mant, ".", "", 1)
	e, _ := strconv.Atoi(exp)
	if e < -4 || e >= 16 {
		return sign + scientific(digits, e)
	}
	return sign + positional(digits, e+1)
}

// scientific formats d.ddd × 10^e with at least two exponent digits.
func scientific(digits string, e int) string {
	s := digits[:1]
	if len(digits) > 1 {
		s += "." + digits[1:]
	}
	esign := "+"
	if e < 0 {
		esign, e = "-", -e
	}
	es := strconv.Itoa(e)
	if len(es) < 2 {
		es = "0" + es
	}
	return s + "e" + esign + es
}

// positional formats 0.digits × 10^point.
func positional(digits string, point int) string {
	switch {
	case point <= 0:
		return "0." + strings.Repeat("0", -point) + digits
	case point >= len(digits):
		return digits + strings.Repeat("0", point-len(digits)) + ".0"
	}
	return digits[:point] + "." + digits[point:]
}
