package contract

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// toolkitVars lists Environment.to_env_vars' keys and the properties they
// render, in that function's order. SM_CHANNELS, SM_CHANNEL_*, SM_HP_*,
// SM_TRAINING_ENV, SM_USER_ARGS and SM_TOPOLOGY are added by toolkitEnv.
var toolkitVars = [][2]string{
	{"hosts", "hosts"},
	{"network_interface_name", "network_interface_name"},
	{"hps", "hyperparameters"},
	{"user_entry_point", "user_entry_point"},
	{"framework_params", "additional_framework_parameters"},
	{"resource_config", "resource_config"},
	{"input_data_config", "input_data_config"},
	{"output_data_dir", "output_data_dir"},
	{"current_host", "current_host"},
	{"current_instance_type", "current_instance_type"},
	{"current_instance_group", "current_instance_group"},
	{"current_instance_group_hosts", "current_instance_group_hosts"},
	{"instance_groups", "instance_groups"},
	{"instance_groups_dict", "instance_groups_dict"},
	{"distribution_instance_groups", "distribution_instance_groups"},
	{"is_hetero", "is_hetero"},
	{"module_name", "module_name"},
	{"log_level", "log_level"},
	{"framework_module", "framework_module"},
	{"input_dir", "input_dir"},
	{"input_config_dir", "input_config_dir"},
	{"output_dir", "output_dir"},
	{"num_cpus", "num_cpus"},
	{"num_gpus", "num_gpus"},
	{"num_neurons", "num_neurons"},
	{"model_dir", "model_dir"},
	{"module_dir", "module_dir"},
	{"output_intermediate_dir", "output_intermediate_dir"},
}

// toolkitEnv is to_env_vars: "SM_" + key.upper() → value. Later keys win
// on a clash ("a" and "A" both give SM_HP_A), as in the toolkit's dict.
func toolkitEnv(p props) map[string]string {
	env := map[string]string{}
	set := func(key string, v pyValue) { env["SM_"+pyUpper(key)] = envValue(v) }
	for _, kv := range toolkitVars {
		set(kv[0], p[kv[1]])
	}
	set("channels", channelNames(p["channel_input_dirs"].(pyDict)))
	set("training_env", trainingEnv(p))
	set("user_args", userArgs(p["hyperparameters"].(pyDict)))
	if truthy(p["topology"]) {
		set("topology", p["topology"])
	}
	for _, it := range p["channel_input_dirs"].(pyDict) {
		set("channel_"+string(it.key), it.val)
	}
	for _, it := range p["hyperparameters"].(pyDict) {
		set("hp_"+string(it.key), it.val)
	}
	return env
}

// envValue is to_env_vars' format_value: a string as it is, None as "",
// anything else as compact, sorted, ASCII-only JSON.
func envValue(v pyValue) string {
	switch v := v.(type) {
	case pyStr:
		return string(v)
	case pyNone:
		return ""
	}
	return pyDumps(v)
}

// trainingEnv is dict(Environment()): every property.
func trainingEnv(p props) pyDict {
	d := make(pyDict, 0, len(p))
	for k, v := range p {
		d = append(d, pyItem{pyStr(k), v})
	}
	return sortedItems(d)
}

func channelNames(dirs pyDict) pyList {
	names := make([]string, len(dirs))
	for i, it := range dirs {
		names[i] = string(it.key)
	}
	sort.Strings(names)
	return strList(names)
}

// maxEnvEntry is Linux's MAX_ARG_STRLEN (32 pages of 4 KiB) less the NUL:
// execve refuses a longer "KEY=VALUE", so the container would not start.
const maxEnvEntry = 32*4096 - 1

// containerEnv merges the environments: the user's, then the toolkit's
// SM_* set (the toolkit overwrites os.environ before running the script),
// then SageMaker's own TRAINING_JOB_NAME and TRAINING_JOB_ARN.
func containerEnv(job Job, sm map[string]string) ([]string, error) {
	env := map[string]string{}
	for _, layer := range []map[string]string{job.Environment, sm, platformEnv(job)} {
		for k, v := range layer {
			env[k] = v
		}
	}
	out := make([]string, 0, len(env))
	for _, k := range sortedKeys(env) {
		if err := checkEnvEntry(k, env[k]); err != nil {
			return nil, err
		}
		out = append(out, k+"="+env[k])
	}
	return out, nil
}

// platformEnv is what SageMaker itself sets in every training container.
func platformEnv(job Job) map[string]string {
	region := job.Region
	if region == "" {
		region = "local"
	}
	return map[string]string{
		"TRAINING_JOB_NAME": job.Name,
		"TRAINING_JOB_ARN":  "arn:aws:sagemaker:" + region + ":000000000000:training-job/" + strings.ToLower(job.Name),
	}
}

// checkEnvEntry refuses what no container can carry. The inputs are
// checked before; this catches computed values, e.g. a hyperparameter key
// with "=" (SM_HP_A=B) or a decoded "\ud800" the toolkit could not encode.
func checkEnvEntry(k, v string) error {
	switch {
	case k == "" || strings.ContainsAny(k, "=\x00"):
		return fmt.Errorf("environment variable %q: a name must be non-empty without '=' or NUL", k)
	case strings.IndexByte(v, 0) >= 0:
		return fmt.Errorf("environment variable %s: the value contains NUL", k)
	case !utf8.ValidString(k) || !utf8.ValidString(v):
		return fmt.Errorf("environment variable %s: not valid UTF-8 (a lone surrogate such as \\ud800 in a hyperparameter?)", k)
	case len(k)+1+len(v) > maxEnvEntry:
		return fmt.Errorf("environment variable %s: %d bytes; Linux allows %d per variable", k, len(k)+1+len(v), maxEnvEntry)
	}
	return nil
}
