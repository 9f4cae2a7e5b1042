package contract

import (
	"fmt"
	"strconv"
	"strings"
)

// props mirrors the toolkit's Environment (sagemaker_training/environment.py,
// v5.1): property name → value. dict(Environment()) is SM_TRAINING_ENV and
// to_env_vars renders most SM_* variables from these properties.
type props map[string]pyValue

// distributionFlags are the framework parameters that put the current
// instance group into distribution_instance_groups when truthy
// (get_distribution_instance_groups_from_resource_config).
var distributionFlags = []string{
	"sagemaker_mpi_enabled",
	"sagemaker_parameter_server_enabled",
	"sagemaker_distributed_dataparallel_enabled",
	"sagemaker_pytorch_ddp_enabled",
	"sagemaker_pytorch_xla_multi_worker_enabled",
	"sagemaker_multi_worker_mirrored_strategy_enabled",
	"sagemaker_torch_distributed_enabled",
}

// toolkitProps computes what Environment() would compute inside the
// container from the files jobrun writes and the container's environment.
func toolkitProps(job Job, h hyperparameters, rc, idc pyDict) (props, error) {
	p := props{
		"additional_framework_parameters": h.framework,
		"hyperparameters":                 h.user,
		"input_data_config":               idc,
		"resource_config":                 rc,
		"channel_input_dirs":              channelDirs(idc),
		"model_dir":                       pyStr(modelDir),
		"input_dir":                       pyStr(inputDir),
		"input_config_dir":                pyStr(inputConfigDir),
		"output_dir":                      pyStr(outputDir),
		"output_data_dir":                 pyStr(outputDataDir),
		"output_intermediate_dir":         pyStr(intermediate),
		"network_interface_name":          pyStr(networkInterface),
		"topology":                        pyList{}, // resourceconfig.json has none
		"job_name":                        pyStr(job.Name),
		"framework_module":                envOrNone(job.Environment, "SAGEMAKER_TRAINING_MODULE"),
	}
	p.addMachine(job)
	p.addCluster(job, rc)
	p.addScript(job.Environment, h.sagemaker)
	if err := p.addDistribution(h.framework); err != nil {
		return nil, err
	}
	return p, nil
}

// channelDirs maps each channel to /opt/ml/input/data/<channel>.
func channelDirs(idc pyDict) pyDict {
	dirs := make(pyDict, 0, len(idc))
	for _, it := range idc {
		dirs = append(dirs, pyItem{it.key, pyStr(inputDataDir + "/" + string(it.key))})
	}
	return dirs
}

// addMachine sets what the toolkit probes on the host. GPUs and CPUs come
// from the job (the toolkit asks nvidia-smi and multiprocessing); Neuron
// cores follow the toolkit's one static rule, since neuron-ls is not run;
// smddprun/smddpmprun are taken as absent, as in an image without them.
func (p props) addMachine(job Job) {
	neurons := 0
	if strings.Contains(job.InstanceType, "trn2.48xlarge") {
		neurons = 64
	}
	p["num_cpus"] = pyInt(strconv.Itoa(job.NumCPUs))
	p["num_gpus"] = pyInt(strconv.Itoa(job.NumGPUs))
	p["num_neurons"] = pyInt(strconv.Itoa(neurons))
	p["is_smddprun_installed"] = pyBool(false)
	p["is_smddpmprun_installed"] = pyBool(false)
	p["is_modelparallel_enabled"] = modelParallel(job.Environment)
}

// modelParallel is `mp and mp != "{}"` over the SM_HP_MP_PARAMETERS the
// container starts with: None when unset, "" when empty, else a bool.
func modelParallel(env map[string]string) pyValue {
	mp, ok := env["SM_HP_MP_PARAMETERS"]
	switch {
	case !ok:
		return pyNone{}
	case mp == "":
		return pyStr("")
	}
	return pyBool(mp != "{}")
}

// addCluster sets the properties read from resourceconfig.json: one
// homogeneous group holding every host.
func (p props) addCluster(job Job, rc pyDict) {
	hosts, _ := rc.get("hosts")
	groups, _ := rc.get("instance_groups")
	p["hosts"] = hosts
	p["current_host"] = pyStr(HostName(job.HostIndex))
	p["current_instance_type"] = pyStr(job.InstanceType)
	p["current_instance_group"] = pyStr(groupName)
	p["current_instance_group_hosts"] = hosts
	p["instance_groups"] = pyList{pyStr(groupName)}
	p["instance_groups_dict"] = pyDict{{groupName, groups.(pyList)[0]}}
	p["is_hetero"] = pyBool(false)
}

// addScript sets the user script's names and the settings the toolkit
// takes from its reserved hyperparameters. The program comes from the
// SAGEMAKER_PROGRAM variable, else the sagemaker_program hyperparameter.
// With neither, the toolkit would report module_name "None" (str(None));
// jobrun reports null: there is no script (docs/contract.md).
func (p props) addScript(env map[string]string, sm pyDict) {
	program, fromEnv := env["SAGEMAKER_PROGRAM"]
	hp, fromHP := sm.get("sagemaker_program")
	var module, entry pyValue = pyNone{}, pyNone{}
	switch {
	case fromEnv:
		module = pyStr(strings.TrimSuffix(program, ".py"))
	case fromHP:
		module = pyStr(strings.TrimSuffix(pyStrOf(hp), ".py"))
	}
	switch {
	case fromEnv && program != "":
		entry = pyStr(program)
	case fromHP:
		entry = hp
	}
	p["module_name"] = module
	p["user_entry_point"] = entry
	p["module_dir"] = pyStr(pyStrOf(getOr(sm, "sagemaker_submit_directory", pyStr(codeDir))))
	p["log_level"] = getOr(sm, "sagemaker_container_log_level", pyInt("20")) // logging.INFO
}

// addDistribution sets which groups and hosts take part in distributed
// training and who is the master (the first such host, else the first).
func (p props) addDistribution(fw pyDict) error {
	groups := distributionGroups(fw)
	in, err := pyContains(groups, groupName)
	if err != nil {
		return fmt.Errorf("hyperparameter sagemaker_distribution_instance_groups: %w", err)
	}
	hosts := p["hosts"].(pyList)
	distHosts := pyList{}
	if in {
		distHosts = hosts
	}
	master := hosts[0]
	if len(distHosts) > 0 {
		master = distHosts[0]
	}
	p["distribution_instance_groups"] = groups
	p["distribution_hosts"] = distHosts
	p["master_hostname"] = master
	p["is_master"] = pyBool(p["current_host"] == master)
	return nil
}

// distributionGroups is sagemaker_distribution_instance_groups when given,
// else the current group when any distribution flag is truthy, else [].
func distributionGroups(fw pyDict) pyValue {
	if v, ok := fw.get("sagemaker_distribution_instance_groups"); ok {
		return v
	}
	for _, flag := range distributionFlags {
		if v, ok := fw.get(flag); ok && truthy(v) {
			return pyList{pyStr(groupName)}
		}
	}
	return pyList{}
}

// pyContains is Python's `s in container` for what json.loads can return;
// the toolkit's own TypeError for numbers, bools and None becomes an error.
func pyContains(container pyValue, s string) (bool, error) {
	switch c := container.(type) {
	case pyList:
		for _, e := range c {
			if e == pyValue(pyStr(s)) {
				return true, nil
			}
		}
		return false, nil
	case pyDict:
		_, ok := c.get(s)
		return ok, nil
	case pyStr:
		return strings.Contains(string(c), s), nil
	}
	return false, fmt.Errorf("a %s is not a list of group names; the toolkit fails with TypeError", container.pyType())
}

func getOr(d pyDict, key string, def pyValue) pyValue {
	if v, ok := d.get(key); ok {
		return v
	}
	return def
}

func envOrNone(env map[string]string, key string) pyValue {
	if v, ok := env[key]; ok {
		return pyStr(v)
	}
	return pyNone{}
}
