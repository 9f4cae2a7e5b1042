package contract

import (
	"strconv"
	"strings"
	"unicode"
)

// pyStrOf is Python's str(v): a string is itself, anything else its repr.
// The toolkit's SM_USER_ARGS and module names are built from str().
func pyStrOf(v pyValue) string {
	if s, ok := v.(pyStr); ok {
		return string(s)
	}
	return pyRepr(v)
}

// pyRepr is Python's repr(v) for the types json.loads produces.
func pyRepr(v pyValue) string {
	switch v := v.(type) {
	case pyBool:
		return map[bool]string{true: "True", false: "False"}[bool(v)]
	case pyInt:
		return string(v)
	case pyFloat:
		return floatRepr(float64(v))
	case pyStr:
		return reprString(string(v))
	case pyList:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case pyDict:
		parts := make([]string, len(v))
		for i, it := range v {
			parts[i] = reprString(string(it.key)) + ": " + pyRepr(it.val)
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return "None"
}

// reprString is repr(str): single quotes unless the text holds a single
// quote and no double quote; printable characters (str.isprintable) as
// they are, others as \xhh, \uhhhh or \Uhhhhhhhh.
func reprString(s string) string {
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	var b strings.Builder
	b.WriteByte(quote)
	for len(s) > 0 {
		r, n := nextRune(s)
		writeReprRune(&b, r, s[:n], quote)
		s = s[n:]
	}
	b.WriteByte(quote)
	return b.String()
}

func writeReprRune(b *strings.Builder, r rune, raw string, quote byte) {
	switch {
	case r == rune(quote) || r == '\\':
		b.WriteByte('\\')
		b.WriteRune(r)
	case r == '\t':
		b.WriteString(`\t`)
	case r == '\n':
		b.WriteString(`\n`)
	case r == '\r':
		b.WriteString(`\r`)
	case r < ' ' || r == 0x7F:
		writeHexEscape(b, `\x`, r, 2)
	case r < 0x7F || unicode.IsPrint(r):
		// unicode.IsPrint matches str.isprintable (no Cc, Cf, Cs, Co, Cn,
		// Zl, Zp, nor Zs other than the space) up to Unicode versions.
		b.WriteString(raw)
	case r <= 0xFF:
		writeHexEscape(b, `\x`, r, 2)
	case r <= 0xFFFF:
		writeHexEscape(b, `\u`, r, 4)
	default:
		writeHexEscape(b, `\U`, r, 8)
	}
}

func writeHexEscape(b *strings.Builder, prefix string, r rune, width int) {
	h := strconv.FormatInt(int64(r), 16)
	b.WriteString(prefix + strings.Repeat("0", width-len(h)) + h)
}
