package contract

import "testing"

// testCase is a job whose tree is pinned by golden files and, when the
// toolkit's source is at hand, checked against the toolkit itself.
type testCase struct {
	name string
	job  func(t *testing.T) Job
}

var testCases = []testCase{
	{"worked-example", workedExample},
	{"multi-host", multiHostJob},
	{"program-env", programEnvJob},
	{"edge", edgeJob},
}

// multiHostJob exercises most of the Python emulation: every value type,
// float forms, big ints, unicode, a newline, one-character and dotted or
// hyphenated keys, reserved and framework keys, and a distributed cluster.
func multiHostJob(*testing.T) Job {
	return Job{
		Name:   "Iris-Tree-2024",
		Region: "us-east-1",
		Hyperparameters: map[string]string{
			"sagemaker_program":             `"train.py"`,
			"sagemaker_submit_directory":    `"s3://bucket/src/sourcedir.tar.gz"`,
			"sagemaker_container_log_level": "10",
			"sagemaker_mpi_enabled":         "true",
			"sagemaker_region":              `"us-east-1"`,
			"_tuning_objective_metric":      "loss",
			"learning-rate":                 "1e-5",
			"big":                           "1e16",
			"small":                         "0.0001",
			"whole":                         "10.0",
			"huge":                          "123456789012345678901234567890",
			"neg_zero":                      "-0.0",
			"nan":                           "NaN",
			"inf":                           "-Infinity",
			"x":                             "1",
			"a.b":                           `{"z": [1, 2.5, null, true], "a": "it's \"q\""}`,
			"straße":                        `"caf\u00e9 \ud83d\ude00"`,
			"names":                         `["a", "b"]`,
			"empty":                         "",
			"none":                          "null",
			"multi":                         "line1\nline2",
			"spaced":                        " 42 ",
		},
		Environment: map[string]string{
			"LOG_LEVEL":                 "debug",
			"SM_MODEL_DIR":              "/elsewhere",
			"SAGEMAKER_TRAINING_MODULE": "my_module:main",
		},
		Channels: []Channel{
			{Name: "train", ContentType: "application/x-recordio", Mode: "Pipe",
				Distribution: "ShardedByS3Key", RecordWrapper: "RecordIO", Compression: "Gzip"},
			{Name: "test-set", Mode: "FastFile"},
		},
		InstanceType:   "ml.p3.8xlarge",
		InstanceCount:  3,
		HostIndex:      1,
		CheckpointPath: "/opt/ml/checkpoints",
		NumCPUs:        8,
		NumGPUs:        2,
	}
}

// programEnvJob names the script through SAGEMAKER_PROGRAM (which wins
// over the hyperparameter), lists distribution groups explicitly and
// leaves the instance type to its default.
func programEnvJob(*testing.T) Job {
	return Job{
		Name: "prog",
		Hyperparameters: map[string]string{
			"sagemaker_program":                      `"other.py"`,
			"sagemaker_distribution_instance_groups": `["homogeneousCluster"]`,
			"epochs":                                 "3",
		},
		Environment: map[string]string{
			"SAGEMAKER_PROGRAM":   "run.py",
			"SM_HP_MP_PARAMETERS": "{}",
		},
		InstanceCount: 2,
		NumCPUs:       1,
	}
}

// edgeJob collects the toolkit's odd corners: names that upper-case alike,
// an empty key, a null program under an empty SAGEMAKER_PROGRAM, a raw
// string as distribution groups (Python's `in` then tests substrings),
// non-string reserved values, and the Neuron instance rule.
func edgeJob(*testing.T) Job {
	return Job{
		Name: "edge",
		Hyperparameters: map[string]string{
			"A": "1", "a": "2", "": "e", "ﬁ": "[]",
			"d":                                      `{"k": null, "j": {"x": 1}}`,
			"sagemaker_program":                      "null",
			"sagemaker_distribution_instance_groups": "homogeneousCluster,other",
			"sagemaker_submit_directory":             "5",
			"sagemaker_container_log_level":          `"DEBUG"`,
		},
		Environment:   map[string]string{"SAGEMAKER_PROGRAM": ""},
		Channels:      []Channel{{Name: "Train"}, {Name: "train"}},
		InstanceType:  "ml.trn2.48xlarge",
		InstanceCount: 2,
		HostIndex:     1,
		NumCPUs:       192,
	}
}
