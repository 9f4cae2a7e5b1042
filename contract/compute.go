package contract

import "fmt"

// Compute returns the contract for one host of a job: the config files
// below /opt/ml and the container's environment. It is deterministic and
// does no I/O. Errors name the field at fault; they are the job's (a bad
// value), never the machine's.
func Compute(job Job) (Tree, error) {
	job = withDefaults(job)
	if err := validate(job); err != nil {
		return Tree{}, fmt.Errorf("contract: %w", err)
	}
	hps, err := decodeHyperparameters(job.Hyperparameters)
	if err != nil {
		return Tree{}, fmt.Errorf("contract: %w", err)
	}
	rc, idc := resourceConfig(job), inputDataConfig(job)
	p, err := toolkitProps(job, hps, rc, idc)
	if err != nil {
		return Tree{}, fmt.Errorf("contract: %w", err)
	}
	env, err := containerEnv(job, toolkitEnv(p))
	if err != nil {
		return Tree{}, fmt.Errorf("contract: %w", err)
	}
	return Tree{Files: configFiles(job, rc, idc), Env: env}, nil
}

// withDefaults fills what SageMaker fills for an unset field, on a copy.
func withDefaults(job Job) Job {
	if job.InstanceType == "" {
		job.InstanceType = "local" // the toolkit's own default
	}
	job.Channels = append([]Channel(nil), job.Channels...)
	for i := range job.Channels {
		ch := &job.Channels[i]
		ch.Mode = orDefault(ch.Mode, "File")
		ch.Distribution = orDefault(ch.Distribution, "FullyReplicated")
		ch.RecordWrapper = orDefault(ch.RecordWrapper, "None")
		ch.Compression = orDefault(ch.Compression, "None")
	}
	return job
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
