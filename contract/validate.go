package contract

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// channelNameRE is SageMaker's pattern for Channel.ChannelName; the name
// becomes a directory under /opt/ml/input/data and part of SM_CHANNEL_*.
var channelNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// allowed lists the values SageMaker's API accepts for the channel fields.
var allowed = map[string][]string{
	"Mode":          {"File", "FastFile", "Pipe"},
	"Distribution":  {"FullyReplicated", "ShardedByS3Key"},
	"RecordWrapper": {"None", "RecordIO"},
	"Compression":   {"None", "Gzip"},
}

// validate rejects what SageMaker would reject or a container could not
// carry; the spec package reports friendlier errors first, this is the
// backstop that keeps the contract well-formed.
func validate(job Job) error {
	if err := validateJob(job); err != nil {
		return err
	}
	if err := validateChannels(job.Channels); err != nil {
		return err
	}
	if err := validateStrings("hyperparameter", job.Hyperparameters); err != nil {
		return err
	}
	return validateStrings("environment variable", job.Environment)
}

func validateJob(job Job) error {
	switch {
	case job.Name == "" || strings.ContainsAny(job.Name, "\x00\r\n") || !utf8.ValidString(job.Name):
		return fmt.Errorf("job name %q: must be non-empty UTF-8 on one line", job.Name)
	case job.InstanceCount < 1:
		return fmt.Errorf("instance count %d: must be at least 1", job.InstanceCount)
	case job.HostIndex < 0 || job.HostIndex >= job.InstanceCount:
		return fmt.Errorf("host index %d: must be in [0, %d)", job.HostIndex, job.InstanceCount)
	case job.NumCPUs < 1:
		return fmt.Errorf("CPU count %d: must be at least 1", job.NumCPUs)
	case job.NumGPUs < 0:
		return fmt.Errorf("GPU count %d: must not be negative", job.NumGPUs)
	case job.CheckpointPath != "" && !strings.HasPrefix(job.CheckpointPath, "/"):
		return fmt.Errorf("checkpoint path %q: must be an absolute container path", job.CheckpointPath)
	}
	for _, f := range [][2]string{{"region", job.Region}, {"instance type", job.InstanceType}, {"checkpoint path", job.CheckpointPath}} {
		if strings.ContainsRune(f[1], 0) || !utf8.ValidString(f[1]) {
			return fmt.Errorf("%s %q: must be UTF-8 without NUL", f[0], f[1])
		}
	}
	return nil
}

func validateChannels(chs []Channel) error {
	seen := map[string]bool{}
	for _, ch := range chs {
		if !channelNameRE.MatchString(ch.Name) || ch.Name == "." || ch.Name == ".." {
			return fmt.Errorf("channel %q: a name is 1-64 of A-Z a-z 0-9 . - _ (and not . or ..)", ch.Name)
		}
		if seen[ch.Name] {
			return fmt.Errorf("channel %q: named twice", ch.Name)
		}
		seen[ch.Name] = true
		fields := [][2]string{{"Mode", ch.Mode}, {"Distribution", ch.Distribution},
			{"RecordWrapper", ch.RecordWrapper}, {"Compression", ch.Compression}}
		for _, f := range fields {
			if !slices.Contains(allowed[f[0]], f[1]) {
				return fmt.Errorf("channel %q: %s %q is not one of %s", ch.Name, f[0], f[1], strings.Join(allowed[f[0]], ", "))
			}
		}
		if strings.ContainsRune(ch.ContentType, 0) || !utf8.ValidString(ch.ContentType) {
			return fmt.Errorf("channel %q: content type must be UTF-8 without NUL", ch.Name)
		}
	}
	return nil
}

// validateStrings checks a map that ends up in JSON files and environment
// variables: valid UTF-8 and no NUL anywhere, no "=" in environment names.
func validateStrings(what string, m map[string]string) error {
	for _, k := range sortedKeys(m) {
		v := m[k]
		switch {
		case !utf8.ValidString(k) || !utf8.ValidString(v):
			return fmt.Errorf("%s %q: not valid UTF-8", what, k)
		case strings.ContainsRune(k, 0) || strings.ContainsRune(v, 0):
			return fmt.Errorf("%s %q: contains NUL", what, k)
		case what == "environment variable" && (k == "" || strings.Contains(k, "=")):
			return fmt.Errorf("%s %q: a name must be non-empty without '='", what, k)
		}
	}
	return nil
}
