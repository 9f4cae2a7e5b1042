package contract

import (
	"strconv"
)

// str parses the rest of a string literal (the opening quote is consumed).
// Like Python in strict mode it rejects raw control characters, and like
// Python it keeps a lone surrogate escape (\ud800) as a code point.
func (d *decoder) str() (pyStr, error) {
	var b []byte
	for d.i < len(d.s) {
		c := d.s[d.i]
		switch {
		case c == '"':
			d.i++
			return pyStr(b), nil
		case c == '\\':
			r, err := d.escape()
			if err != nil {
				return "", err
			}
			b = appendRune(b, r)
		case c < 0x20:
			return "", errNotJSON // "Invalid control character"
		default:
			b = append(b, c)
			d.i++
		}
	}
	return "", errNotJSON // "Unterminated string"
}

// shortEscapes are the one-letter escapes JSON defines.
var shortEscapes = map[byte]rune{
	'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t',
}

// escape decodes one backslash escape at d.i. A high surrogate followed by
// an escaped low surrogate joins into one code point, as in CPython's
// scanstring; any other surrogate stays alone.
func (d *decoder) escape() (rune, error) {
	if d.i+1 >= len(d.s) {
		return 0, errNotJSON
	}
	if r, ok := shortEscapes[d.s[d.i+1]]; ok {
		d.i += 2
		return r, nil
	}
	if d.s[d.i+1] != 'u' {
		return 0, errNotJSON // "Invalid \\escape"
	}
	r, ok := hex4(d.s, d.i+2)
	if !ok {
		return 0, errNotJSON // "Invalid \\uXXXX escape"
	}
	d.i += 6
	if r >= 0xD800 && r <= 0xDBFF && d.i+1 < len(d.s) && d.s[d.i] == '\\' && d.s[d.i+1] == 'u' {
		if low, ok := hex4(d.s, d.i+2); ok && low >= 0xDC00 && low <= 0xDFFF {
			d.i += 6
			return 0x10000 + (r-0xD800)<<10 + (low - 0xDC00), nil
		}
	}
	return r, nil
}

// hex4 reads the four hex digits of a \u escape, either case.
func hex4(s string, at int) (rune, bool) {
	if at+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[at : at+4]) {
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

// number parses a JSON number as CPython's _match_number does: an integer
// part without leading zeros, then a fraction only when a digit follows the
// dot, then an exponent only when a digit follows "e" and its sign (else
// both are left unread, which then fails as extra data).
func (d *decoder) number() (pyValue, error) {
	start := d.i
	if d.peek() == '-' {
		d.i++
	}
	switch c := d.peek(); {
	case c == '0':
		d.i++
	case '1' <= c && c <= '9':
		d.digits()
	default:
		return nil, errNotJSON // "Expecting value"
	}
	intEnd := d.i
	isFloat := d.fraction()
	isFloat = d.exponent() || isFloat
	text := d.s[start:d.i]
	if isFloat {
		return parsePyFloat(text), nil
	}
	return parsePyInt(text, intEnd-start)
}

func (d *decoder) peek() byte {
	if d.i < len(d.s) {
		return d.s[d.i]
	}
	return 0
}

func (d *decoder) digits() {
	for d.i < len(d.s) && '0' <= d.s[d.i] && d.s[d.i] <= '9' {
		d.i++
	}
}

func (d *decoder) fraction() bool {
	if d.i+1 < len(d.s) && d.s[d.i] == '.' && isDigit(d.s[d.i+1]) {
		d.i++
		d.digits()
		return true
	}
	return false
}

func (d *decoder) exponent() bool {
	if c := d.peek(); c != 'e' && c != 'E' {
		return false
	}
	j := d.i + 1
	if j < len(d.s) && (d.s[j] == '+' || d.s[j] == '-') {
		j++
	}
	if j >= len(d.s) || !isDigit(d.s[j]) {
		return false
	}
	d.i = j
	d.digits()
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// parsePyFloat is Python's float(text): correctly rounded, overflowing to
// an infinity and underflowing to zero without an error, like Go's.
func parsePyFloat(text string) pyValue {
	f, _ := strconv.ParseFloat(text, 64)
	return pyFloat(f)
}

// parsePyInt is Python's int(text), including CPython's limit on the
// number of digits (beyond it int() raises ValueError).
func parsePyInt(text string, n int) (pyValue, error) {
	if text[0] == '-' {
		n--
	}
	if n > maxIntDigits {
		return nil, errNotJSON
	}
	if text == "-0" {
		return pyInt("0"), nil
	}
	return pyInt(text), nil
}
