package contract

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// reservedHyperparameters are the keys the toolkit consumes itself
// (params.SAGEMAKER_HYPERPARAMETERS): they are in neither SM_HPS nor
// SM_FRAMEWORK_PARAMS. Two of them lack the sagemaker_ prefix.
var reservedHyperparameters = map[string]bool{
	"sagemaker_program":                   true,
	"sagemaker_submit_directory":          true,
	"sagemaker_enable_cloudwatch_metrics": true,
	"sagemaker_region":                    true,
	"sagemaker_container_log_level":       true,
	"sagemaker_job_name":                  true,
	"default_user_module_name":            true,
	"_tuning_objective_metric":            true,
	"sagemaker_s3_output":                 true,
}

// hyperparameters is the toolkit's split of hyperparameters.json
// (environment.py, mapping.split_by_criteria).
type hyperparameters struct {
	user      pyDict // Environment.hyperparameters: SM_HPS, SM_HP_*, SM_USER_ARGS
	framework pyDict // additional_framework_parameters: SM_FRAMEWORK_PARAMS
	sagemaker pyDict // every reserved or sagemaker_* key, for the toolkit's own lookups
}

// decodeHyperparameters decodes every value as the toolkit does and splits
// them. Keys are visited in the order jobrun writes them to the file
// (sorted), which is the toolkit's dict order.
func decodeHyperparameters(raw map[string]string) (hyperparameters, error) {
	var h hyperparameters
	for _, k := range sortedKeys(raw) {
		v, err := decodeHyperparameter(raw[k])
		if err != nil {
			return h, fmt.Errorf("hyperparameter %q: %w", k, err)
		}
		item := pyItem{pyStr(k), v}
		switch {
		case reservedHyperparameters[k]:
			h.sagemaker = append(h.sagemaker, item)
		case strings.HasPrefix(k, "sagemaker_"):
			h.sagemaker = append(h.sagemaker, item)
			h.framework = append(h.framework, item)
		default:
			h.user = append(h.user, item)
		}
	}
	return h, nil
}

// decodeHyperparameter is the toolkit's read_hyperparameters for one value:
// json.loads, or the raw string when that raises ValueError.
func decodeHyperparameter(s string) (pyValue, error) {
	v, err := pyLoads(s)
	if errors.Is(err, errNotJSON) {
		return pyStr(s), nil
	}
	return v, err
}

// userArgs is mapping.to_cmd_args: "--key value" pairs over sorted keys
// ("-k" for one-character keys), each value str()'d, None as "", a dict as
// "k=v,k=v" over its sorted keys.
func userArgs(hps pyDict) pyList {
	args := pyList{}
	for _, it := range sortedItems(hps) {
		args = append(args, pyStr(argName(string(it.key))), pyStr(argValue(it.val)))
	}
	return args
}

func argName(key string) string {
	switch utf8.RuneCountInString(key) {
	case 0:
		return ""
	case 1:
		return "-" + key
	}
	return "--" + key
}

func argValue(v pyValue) string {
	switch v := v.(type) {
	case pyNone:
		return ""
	case pyDict:
		parts := make([]string, 0, len(v))
		for _, it := range sortedItems(v) {
			parts = append(parts, string(it.key)+"="+pyStrOf(it.val))
		}
		return strings.Join(parts, ",")
	}
	return pyStrOf(v)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
