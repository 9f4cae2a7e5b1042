package main

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestJSONPrinterAlwaysPrintsOneObject(t *testing.T) {
	for _, v := range []any{struct{ A int }{1}, struct{}{}, nil, 3, "s"} {
		var buf bytes.Buffer
		jsonPrinter{&buf}.result("k", v, "")
		var got map[string]any
		if err := json.Unmarshal(buf.Bytes(), &got); err != nil || got["type"] != "k" {
			t.Errorf("%#v printed %q (%v)", v, buf.String(), err)
		}
	}
}
