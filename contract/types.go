// Package contract computes what a SageMaker training container sees: the
// /opt/ml tree's config files and the environment (TRAINING_JOB_NAME, the
// sagemaker-training-toolkit's SM_* set). It is pure: no I/O except writing
// files into a directory it is given.
package contract

// Job is everything the contract depends on, for one host of one job.
type Job struct {
	Name            string            // the unique job name
	Region          string            // for the ARN; "local" when unset
	Hyperparameters map[string]string // SageMaker's form: every value a string
	Environment     map[string]string // the user's environment
	Channels        []Channel
	InstanceType    string // e.g. ml.m5.large; "local" when unset
	InstanceCount   int    // at least 1
	HostIndex       int    // 0-based: host i is algo-(i+1)
	CheckpointPath  string // container path; "" when no checkpoint config
	NumCPUs         int    // CPUs visible in the container (the host's count), at least 1
	NumGPUs         int    // GPUs visible in the container
}

// Channel is one input channel as SageMaker describes it in inputdataconfig.json.
type Channel struct {
	Name          string
	ContentType   string // "" to leave out
	Mode          string // File | FastFile | Pipe; "" is File
	Distribution  string // FullyReplicated | ShardedByS3Key; "" is FullyReplicated
	RecordWrapper string // None | RecordIO; "" is None
	Compression   string // None | Gzip; "" is None
}

// Tree is the computed contract for one host.
type Tree struct {
	// Files maps paths relative to /opt/ml (e.g. "input/config/hyperparameters.json")
	// to their contents.
	Files map[string][]byte
	// Env is the container's environment, KEY=VALUE, sorted by key.
	Env []string
}
