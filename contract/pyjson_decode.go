package contract

import (
	"errors"
	"math"
	"strings"
)

// This file emulates Python 3's json.loads (the C scanner, strict mode),
// which the toolkit applies to every hyperparameter value
// (sagemaker_training/environment.py, read_hyperparameters). Where Python
// raises ValueError the toolkit keeps the raw string, so the exact set of
// accepted texts matters: NaN and Infinity are accepted, "01", "1." and a
// leading BOM are not, and so on.

var (
	// errNotJSON is json.loads raising ValueError: the toolkit then keeps
	// the raw string.
	errNotJSON = errors.New("not JSON as Python's json.loads reads it")
	// errTooDeep is json.loads raising RecursionError, which the toolkit
	// does not catch: it fails before running anything.
	errTooDeep = errors.New("nested too deeply: Python's json.loads raises RecursionError, which the toolkit does not catch")
)

const (
	// maxNesting approximates where CPython 3.11 and older run out of
	// recursion: the limit is 1000 frames and json.loads is reached about
	// ten frames deep in the toolkit.
	maxNesting = 990
	// maxIntDigits is CPython's default int_max_str_digits (3.11, and the
	// 3.7-3.10 security releases): longer integers raise ValueError.
	maxIntDigits = 4300
)

// decoder walks the text byte by byte. All structural characters are ASCII,
// so working on UTF-8 bytes matches Python's work on code points.
type decoder struct {
	s     string
	i     int
	depth int
}

// pyLoads decodes s as json.loads(s) does.
func pyLoads(s string) (pyValue, error) {
	if strings.HasPrefix(s, "\ufeff") {
		return nil, errNotJSON // "Unexpected UTF-8 BOM"
	}
	d := &decoder{s: s}
	d.skipSpace()
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	if d.skipSpace(); d.i != len(s) {
		return nil, errNotJSON // "Extra data"
	}
	return v, nil
}

// skipSpace skips JSON whitespace only; Python does not treat other
// Unicode spaces as whitespace here.
func (d *decoder) skipSpace() {
	for d.i < len(d.s) && strings.IndexByte(" \t\n\r", d.s[d.i]) >= 0 {
		d.i++
	}
}

// value dispatches on the first byte in the order of Python's scan_once.
func (d *decoder) value() (pyValue, error) {
	if d.i >= len(d.s) {
		return nil, errNotJSON
	}
	switch d.s[d.i] {
	case '"':
		d.i++
		s, err := d.str()
		return s, err
	case '{':
		return d.nested(d.object)
	case '[':
		return d.nested(d.array)
	}
	for _, c := range constants {
		if strings.HasPrefix(d.s[d.i:], c.text) {
			d.i += len(c.text)
			return c.val, nil
		}
	}
	return d.number()
}

// constants are the literal names json.loads accepts, NaN and the
// infinities included (json's parse_constant default).
var constants = []struct {
	text string
	val  pyValue
}{
	{"null", pyNone{}},
	{"true", pyBool(true)},
	{"false", pyBool(false)},
	{"NaN", pyFloat(math.NaN())},
	{"Infinity", pyFloat(math.Inf(1))},
	{"-Infinity", pyFloat(math.Inf(-1))},
}

// nested bounds the recursion the way CPython's recursion limit does.
func (d *decoder) nested(parse func() (pyValue, error)) (pyValue, error) {
	if d.depth++; d.depth > maxNesting {
		return nil, errTooDeep
	}
	v, err := parse()
	d.depth--
	return v, err
}

// array parses "[...]" after checking the opening bracket.
func (d *decoder) array() (pyValue, error) {
	d.i++
	d.skipSpace()
	list := pyList{}
	if d.i < len(d.s) && d.s[d.i] == ']' {
		d.i++
		return list, nil
	}
	for {
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		list = append(list, v)
		if more, err := d.separator(']'); err != nil || !more {
			return list, err
		}
	}
}

// separator consumes whitespace and then ',' (more follows) or the closing
// byte (done).
func (d *decoder) separator(closing byte) (bool, error) {
	d.skipSpace()
	if d.i >= len(d.s) {
		return false, errNotJSON
	}
	c := d.s[d.i]
	d.i++
	switch c {
	case ',':
		d.skipSpace()
		return true, nil
	case closing:
		return false, nil
	}
	return false, errNotJSON
}

// object parses "{...}". Repeated keys keep their first position and take
// the last value, as a Python dict built by json.loads does.
func (d *decoder) object() (pyValue, error) {
	d.i++
	d.skipSpace()
	dict := pyDict{}
	if d.i < len(d.s) && d.s[d.i] == '}' {
		d.i++
		return dict, nil
	}
	index := map[pyStr]int{}
	for {
		key, val, err := d.member()
		if err != nil {
			return nil, err
		}
		if at, ok := index[key]; ok {
			dict[at].val = val
		} else {
			index[key] = len(dict)
			dict = append(dict, pyItem{key, val})
		}
		if more, err := d.separator('}'); err != nil || !more {
			return dict, err
		}
	}
}

// member parses `"key" : value`.
func (d *decoder) member() (pyStr, pyValue, error) {
	if d.i >= len(d.s) || d.s[d.i] != '"' {
		return "", nil, errNotJSON // keys must be strings
	}
	d.i++
	key, err := d.str()
	if err != nil {
		return "", nil, err
	}
	d.skipSpace()
	if d.i >= len(d.s) || d.s[d.i] != ':' {
		return "", nil, errNotJSON
	}
	d.i++
	d.skipSpace()
	val, err := d.value()
	return key, val, err
}
