package spec

import (
	"os"
	"strings"
	"testing"
)

// TestDocsExamples parses the first and the full example in docs/spec.md,
// so the reference cannot drift from the parser.
func TestDocsExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/spec.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := yamlBlocks(string(doc))
	if len(blocks) < 2 {
		t.Fatalf("found %d yaml blocks in docs/spec.md", len(blocks))
	}
	for _, b := range []string{blocks[0], blocks[len(blocks)-1]} {
		if _, err := Parse("docs/train.yaml", []byte(b), Overrides{}); err != nil {
			t.Errorf("example does not parse: %v\n%s", err, b)
		}
	}
}

// yamlBlocks returns the bodies of the ```yaml fenced blocks of a markdown text.
func yamlBlocks(md string) []string {
	var out []string
	for _, part := range strings.Split(md, "```yaml\n")[1:] {
		body, _, _ := strings.Cut(part, "```")
		out = append(out, body)
	}
	return out
}
