package spec

import (
	"sort"
	"strings"
)

// Error is one problem in a spec and where it is.
type Error struct {
	// Pos says where: "train.yaml:12:5" for a place in the file, the flag
	// for a command-line override ("--set resources.gpus=x"), or a field
	// path ("inputs.train.mode") for problems found by Spec.Validate.
	Pos string `json:"pos"`
	// Line and Column are 1-based; both are 0 when Pos is not in the file.
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
	Msg    string `json:"message"`
}

func (e Error) Error() string { return e.Pos + ": " + e.Msg }

// Errors is every problem found in a spec, in the order of the file
// (command-line problems first). Parse and Load return it wrapped in an
// exitcode.UsageError; get it back with errors.As.
type Errors []Error

// Error joins the problems, one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// sorted orders the errors by position, flag errors first in flag order,
// and drops exact repeats (a value reached through two aliases).
func (es Errors) sorted() Errors {
	out := make(Errors, 0, len(es))
	seen := make(map[Error]bool, len(es))
	for _, e := range es {
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Line != out[j].Line {
			return out[i].Line < out[j].Line
		}
		return out[i].Column < out[j].Column
	})
	return out
}
