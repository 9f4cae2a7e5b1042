package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

const defaultRoot = "/opt/ml"

// dirs are the paths of the /opt/ml tree, under root.
type dirs struct {
	root string
}

func newDirs(root string) dirs {
	if root == "" {
		root = defaultRoot
	}
	return dirs{root: filepath.Clean(root)}
}

func (d dirs) configDir() string          { return filepath.Join(d.root, "input", "config") }
func (d dirs) config(name string) string  { return filepath.Join(d.configDir(), name) }
func (d dirs) data(channel string) string { return filepath.Join(d.root, "input", "data", channel) }
func (d dirs) model() string              { return filepath.Join(d.root, "model") }
func (d dirs) output() string             { return filepath.Join(d.root, "output") }
func (d dirs) outputData() string         { return filepath.Join(d.root, "output", "data") }
func (d dirs) code() string               { return filepath.Join(d.root, "code") }

// containerPath maps an absolute /opt/ml path from a config file to root.
func (d dirs) containerPath(p string) string {
	rel, err := filepath.Rel(defaultRoot, filepath.Clean(p))
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return p
	}
	return filepath.Join(d.root, rel)
}

// channelConfig is one entry of inputdataconfig.json.
type channelConfig struct {
	TrainingInputMode  string `json:"TrainingInputMode"`
	ContentType        string `json:"ContentType"`
	S3DistributionType string `json:"S3DistributionType"`
	RecordWrapperType  string `json:"RecordWrapperType"`
	CompressionType    string `json:"CompressionType"`
}

type resourceConfig struct {
	CurrentHost string   `json:"current_host"`
	Hosts       []string `json:"hosts"`
}

type checkpointConfig struct {
	LocalPath string `json:"LocalPath"`
	S3URI     string `json:"S3Uri"`
}

// config holds the config files; a nil map or pointer means the file is absent.
type config struct {
	hyperparameters map[string]string
	inputData       map[string]channelConfig
	resources       *resourceConfig
	checkpoint      *checkpointConfig
}

func loadConfig(d dirs) (config, error) {
	var c config
	hps, err := loadHyperparameters(d.config("hyperparameters.json"))
	if err != nil {
		return c, err
	}
	c.hyperparameters = hps
	if _, err := readJSON(d.config("inputdataconfig.json"), &c.inputData); err != nil {
		return c, err
	}
	if err := loadResources(d.config("resourceconfig.json"), &c); err != nil {
		return c, err
	}
	ok, err := readJSON(d.config("checkpointconfig.json"), &c.checkpoint)
	if ok && err == nil {
		logf("checkpointconfig.json: LocalPath %q", c.checkpoint.LocalPath)
	}
	return c, err
}

// readJSON decodes the file at path into v; a missing file is not an error.
func readJSON(path string, v any) (found bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		logf("%s: not found", path)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return true, badInput("%s: invalid JSON: %v", path, err)
	}
	return true, nil
}

// loadHyperparameters reads hyperparameters.json, where SageMaker writes
// every value as a JSON string; any other type is a contract violation.
func loadHyperparameters(path string) (map[string]string, error) {
	var raw map[string]any
	if _, err := readJSON(path, &raw); err != nil {
		return nil, err
	}
	hps := make(map[string]string, len(raw))
	for k, v := range raw {
		s, ok := v.(string)
		if !ok {
			b, _ := json.Marshal(v)
			return nil, badInput("%s: value of %q is %s, not a string: SageMaker writes every value as a JSON string",
				path, k, b)
		}
		hps[k] = unquote(s)
	}
	return hps, nil
}

// unquote decodes a JSON-encoded string such as "\"train\"", which the
// SageMaker Python SDK sends for framework estimators.
func unquote(s string) string {
	var inner string
	if len(s) >= 2 && s[0] == '"' && json.Unmarshal([]byte(s), &inner) == nil {
		return inner
	}
	return s
}

func loadResources(path string, c *config) error {
	found, err := readJSON(path, &c.resources)
	if !found || err != nil {
		return err
	}
	r := c.resources
	if r.CurrentHost == "" || len(r.Hosts) == 0 {
		return badInput("%s: current_host and hosts are required", path)
	}
	if !slices.Contains(r.Hosts, r.CurrentHost) {
		return badInput("%s: current_host %q is not in hosts %q", path, r.CurrentHost, r.Hosts)
	}
	logf("host %s of %v", r.CurrentHost, r.Hosts)
	return nil
}

// params are the hyperparameters the trainer understands.
type params struct {
	epochs        int
	lr            float64
	channel       string
	sleep         time.Duration
	fail          bool
	exitCode      int
	ignoreSIGTERM bool
	dumpEnv       bool
	allocateMB    int
}

// parseParams returns every value it could parse along with the first error,
// so that ignore_sigterm and dump_env apply even when another value is bad.
func parseParams(hps map[string]string) (params, error) {
	p := params{epochs: 5, lr: 0.1, channel: "train", exitCode: exitFail}
	errs := []error{
		parseBool(hps, "ignore_sigterm", &p.ignoreSIGTERM),
		parseBool(hps, "dump_env", &p.dumpEnv),
		parseBool(hps, "fail", &p.fail),
		parseInt(hps, "exit_code", 0, 255, &p.exitCode),
		parseInt(hps, "epochs", 1, 1_000_000, &p.epochs),
		parseFloat(hps, "lr", &p.lr, func(f float64) bool { return f > 0 }),
		parseSleep(hps, &p.sleep),
		parseInt(hps, "allocate_mb", 0, 1<<20, &p.allocateMB),
	}
	if v, ok := hps["channel"]; ok {
		p.channel = v
	}
	if p.channel == "" || strings.ContainsAny(p.channel, "/\\") || p.channel == "." || p.channel == ".." {
		errs = append(errs, badInput("hyperparameter channel=%q is not a channel name", p.channel))
	}
	for _, err := range errs {
		if err != nil {
			return p, err
		}
	}
	return p, nil
}

func parseBool(hps map[string]string, key string, dst *bool) error {
	v, ok := hps[key]
	if !ok {
		return nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return badInput("hyperparameter %s=%q: want true or false", key, v)
	}
	*dst = b
	return nil
}

func parseInt(hps map[string]string, key string, lo, hi int, dst *int) error {
	v, ok := hps[key]
	if !ok {
		return nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < lo || n > hi {
		return badInput("hyperparameter %s=%q: want an integer from %d to %d", key, v, lo, hi)
	}
	*dst = n
	return nil
}

func parseFloat(hps map[string]string, key string, dst *float64, valid func(float64) bool) error {
	v, ok := hps[key]
	if !ok {
		return nil
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || !valid(f) {
		return badInput("hyperparameter %s=%q: not a valid value", key, v)
	}
	*dst = f
	return nil
}

func parseSleep(hps map[string]string, dst *time.Duration) error {
	secs := 0.0
	err := parseFloat(hps, "sleep", &secs, func(f float64) bool { return f >= 0 && f < 1e6 })
	*dst = time.Duration(secs * float64(time.Second))
	return err
}

// checkpointDir is checkpointconfig.json's LocalPath, else /opt/ml/checkpoints.
func (t *trainer) checkpointDir(c config) string {
	if c.checkpoint != nil && c.checkpoint.LocalPath != "" {
		return t.dirs.containerPath(c.checkpoint.LocalPath)
	}
	return filepath.Join(t.dirs.root, "checkpoints")
}

// writeFailure writes reason to output/failure unless a failure file exists.
func (t *trainer) writeFailure(reason string) {
	path := filepath.Join(t.dirs.output(), "failure")
	if err := os.MkdirAll(t.dirs.output(), 0o755); err != nil {
		logf("cannot write failure file: %v", err)
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		logf("%s exists: not overwriting it", path)
		return
	}
	if err == nil {
		_, err = fmt.Fprintln(f, reason)
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		logf("cannot write failure file: %v", err)
	}
}

// writeFileAtomic writes data to path through a temp file and a rename, so
// readers (and checkpoint syncing) never see a partial file.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	err = errors.Join(err, f.Sync(), f.Close())
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func writeJSONAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'))
}
