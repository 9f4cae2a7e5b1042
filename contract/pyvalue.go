package contract

import "unicode/utf8"

// The toolkit decodes every hyperparameter with Python's json.loads and then
// renders the result with json.dumps, str() and repr(). To produce the same
// bytes, jobrun keeps the decoded values as the Python objects they would
// be, not as Go's encoding/json values (which lose int/float distinctions,
// big ints, NaN and key order).

// pyValue is one Python object as json.loads builds it.
type pyValue interface{ pyType() string }

type (
	pyNone  struct{}
	pyBool  bool
	pyInt   string  // canonical decimal text: Python ints are unbounded
	pyFloat float64 // a Python float is an IEEE double
	pyStr   string  // WTF-8: a lone surrogate from a \ud800 escape survives
	pyList  []pyValue
	pyDict  []pyItem // insertion order, which str() and repr() show
)

// pyItem is one key/value pair of a pyDict.
type pyItem struct {
	key pyStr
	val pyValue
}

func (pyNone) pyType() string  { return "NoneType" }
func (pyBool) pyType() string  { return "bool" }
func (pyInt) pyType() string   { return "int" }
func (pyFloat) pyType() string { return "float" }
func (pyStr) pyType() string   { return "str" }
func (pyList) pyType() string  { return "list" }
func (pyDict) pyType() string  { return "dict" }

// get returns the value under key, as dict.get does.
func (d pyDict) get(key string) (pyValue, bool) {
	for _, it := range d {
		if string(it.key) == key {
			return it.val, true
		}
	}
	return nil, false
}

// truthy is Python's bool(v); the toolkit tests distribution flags with it.
func truthy(v pyValue) bool {
	switch v := v.(type) {
	case pyBool:
		return bool(v)
	case pyInt:
		return v != "0"
	case pyFloat:
		return v != 0 // NaN is truthy in Python too
	case pyStr:
		return v != ""
	case pyList:
		return len(v) > 0
	case pyDict:
		return len(v) > 0
	}
	return false
}

// nextRune decodes one code point of a WTF-8 string: UTF-8 extended with
// the three-byte forms of U+D800..U+DFFF, which utf8 refuses.
func nextRune(s string) (rune, int) {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && n == 1 && len(s) >= 3 && s[0] == 0xED &&
		s[1] >= 0xA0 && s[1] <= 0xBF && s[2] >= 0x80 && s[2] <= 0xBF {
		return 0xD000 | rune(s[1]&0x3F)<<6 | rune(s[2]&0x3F), 3
	}
	return r, n
}

// appendRune appends r in WTF-8, so surrogates keep their identity.
func appendRune(b []byte, r rune) []byte {
	if r >= 0xD800 && r <= 0xDFFF {
		return append(b, 0xED, byte(0x80|(r>>6)&0x3F), byte(0x80|r&0x3F))
	}
	return utf8.AppendRune(b, r)
}
