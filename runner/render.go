package runner

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/jobrun/jobrun/spec"
)

// Render writes the /opt/ml tree and an env file for one job into dir,
// without running anything.
func Render(s *spec.Spec, jobName string, host Host, dir string) error {
	r := &run{spec: s, host: host}
	r.JobName = jobName
	tree, err := computeContract(r.contractJob())
	if err != nil {
		return err
	}
	if err := tree.WriteConfig(dir); err != nil {
		return fmt.Errorf("rendering into %s: %w", dir, err)
	}
	dirs := []string{"model", "output/data"}
	for _, in := range s.Inputs {
		dirs = append(dirs, filepath.Join("input/data", in.Name))
	}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return fmt.Errorf("rendering into %s: %w", dir, err)
		}
	}
	return os.WriteFile(filepath.Join(dir, "env"), tree.EnvFile(), 0o644)
}
