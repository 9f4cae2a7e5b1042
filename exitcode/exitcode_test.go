package exitcode

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, OK},
		{"usage", Usagef("bad %s", "spec"), Usage},
		{"wrapped usage", fmt.Errorf("loading: %w", Usagef("x")), Usage},
		{"max runtime", fmt.Errorf("run: %w", ErrMaxRuntime), MaxRuntime},
		{"interrupted", ErrInterrupted, Interrupted},
		{"canceled", context.Canceled, Interrupted},
		{"container", &ContainerExit{Code: 3}, 3},
		{"wrapped container", fmt.Errorf("oom: %w", &ContainerExit{Code: 137}), 137},
		{"other", errors.New("docker broke"), Failure},
	}
	for _, tt := range tests {
		if got := Code(tt.err); got != tt.want {
			t.Errorf("%s: Code = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestQuiet(t *testing.T) {
	if !Quiet(ErrInterrupted) || !Quiet(&ContainerExit{Code: 1}) || Quiet(errors.New("x")) || Quiet(Usagef("y")) ||
		Quiet(fmt.Errorf("out of memory: %w", &ContainerExit{Code: 137})) {
		t.Error("Quiet: an interruption and a container exit explain themselves, other errors do not")
	}
}
