package contract

import "strconv"

// Paths inside the container, as the toolkit derives them from /opt/ml
// (environment.py).
const (
	baseDir        = "/opt/ml"
	inputDir       = baseDir + "/input"
	inputConfigDir = inputDir + "/config"
	inputDataDir   = inputDir + "/data"
	modelDir       = baseDir + "/model"
	codeDir        = baseDir + "/code"
	outputDir      = baseDir + "/output"
	outputDataDir  = outputDir + "/data"
	intermediate   = outputDir + "/intermediate"

	// groupName is the one instance group of a homogeneous cluster.
	groupName = "homogeneousCluster"
	// networkInterface is what SageMaker names the container's interface.
	networkInterface = "eth0"
)

// The config files, relative to /opt/ml.
const (
	HyperparametersFile  = "input/config/hyperparameters.json"
	InputDataConfigFile  = "input/config/inputdataconfig.json"
	ResourceConfigFile   = "input/config/resourceconfig.json"
	CheckpointConfigFile = "input/config/checkpointconfig.json"
)

// Hosts returns the names of an n-host job: algo-1 ... algo-n. SageMaker
// and the toolkit use these as hostnames; the toolkit resolves them all.
func Hosts(n int) []string {
	hosts := make([]string, 0, max(n, 0))
	for i := 0; i < n; i++ {
		hosts = append(hosts, HostName(i))
	}
	return hosts
}

// HostName names host i, counting from 0 like Job.HostIndex: algo-(i+1).
func HostName(i int) string { return "algo-" + strconv.Itoa(i+1) }

// resourceConfig is resourceconfig.json in SageMaker's key order.
func resourceConfig(job Job) pyDict {
	hosts := strList(Hosts(job.InstanceCount))
	group := pyDict{
		{"instance_group_name", pyStr(groupName)},
		{"instance_type", pyStr(job.InstanceType)},
		{"hosts", hosts},
	}
	return pyDict{
		{"current_host", pyStr(HostName(job.HostIndex))},
		{"current_instance_type", pyStr(job.InstanceType)},
		{"current_group_name", pyStr(groupName)},
		{"hosts", hosts},
		{"instance_groups", pyList{group}},
		{"network_interface_name", pyStr(networkInterface)},
	}
}

// inputDataConfig is inputdataconfig.json: per channel, in the job's
// order, the keys of AWS's documented example. CompressionType appears
// only for Gzip: no SageMaker-written sample shows the key, and None
// carries nothing.
func inputDataConfig(job Job) pyDict {
	cfg := pyDict{}
	for _, ch := range job.Channels {
		var c pyDict
		if ch.ContentType != "" {
			c = append(c, pyItem{"ContentType", pyStr(ch.ContentType)})
		}
		c = append(c,
			pyItem{"TrainingInputMode", pyStr(ch.Mode)},
			pyItem{"S3DistributionType", pyStr(ch.Distribution)},
			pyItem{"RecordWrapperType", pyStr(ch.RecordWrapper)})
		if ch.Compression == "Gzip" {
			c = append(c, pyItem{"CompressionType", pyStr(ch.Compression)})
		}
		cfg = append(cfg, pyItem{pyStr(ch.Name), c})
	}
	return cfg
}

// hyperparametersFile is hyperparameters.json: every value a string, as
// the CreateTrainingJob API carries them.
func hyperparametersFile(raw map[string]string) pyDict {
	d := pyDict{}
	for _, k := range sortedKeys(raw) {
		d = append(d, pyItem{pyStr(k), pyStr(raw[k])})
	}
	return d
}

// checkpointConfig is checkpointconfig.json. SageMaker Debugger (smdebug
// state_store.py) reads its "LocalPath"; the S3 side is jobrun's business.
func checkpointConfig(job Job) pyDict {
	return pyDict{{"LocalPath", pyStr(job.CheckpointPath)}}
}

// configFiles renders the files of the tree.
func configFiles(job Job, rc, idc pyDict) map[string][]byte {
	files := map[string][]byte{
		HyperparametersFile: []byte(fileJSON.encode(hyperparametersFile(job.Hyperparameters))),
		InputDataConfigFile: []byte(fileJSON.encode(idc)),
		ResourceConfigFile:  []byte(fileJSON.encode(rc)),
	}
	if job.CheckpointPath != "" {
		files[CheckpointConfigFile] = []byte(fileJSON.encode(checkpointConfig(job)))
	}
	return files
}

func strList(ss []string) pyList {
	l := make(pyList, len(ss))
	for i, s := range ss {
		l[i] = pyStr(s)
	}
	return l
}
