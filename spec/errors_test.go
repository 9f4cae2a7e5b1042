package spec

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestErrors pins each kind of error and its exact file:line:col.
func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string // a full spec when it starts with "name:" or is a document-level case
		want []string
	}{
		// The document.
		{"empty", "", []string{"t.yaml:1:1: the spec is empty: it needs at least name: and image: (or build:)"}},
		{"comments only", "# nothing\n", []string{"t.yaml:1:1: the spec is empty: it needs at least name: and image: (or build:)"}},
		{"null document", "---\n~\n", []string{"t.yaml:1:1: the spec is empty: it needs at least name: and image: (or build:)"}},
		{"two documents", "name: a\n---\nname: b\n", []string{"t.yaml:3:1: a spec is a single YAML document, but a second one starts here"}},
		{"list root", "- name: a\n", []string{"t.yaml:1:1: the spec must be a mapping of keys (name:, image:, ...), not a list"}},
		{"scalar root", "train.yaml\n", []string{"t.yaml:1:1: the spec must be a mapping of keys (name:, image:, ...), not a string"}},
		{"syntax", "name: a\nimage: b\n  c: d\n", []string{"t.yaml:3:1: invalid YAML: mapping values are not allowed in this context"}},
		{"tab", "name: a\n\timage: b\n", []string{"t.yaml:2:1: invalid YAML: found a tab character that violates indentation"}},
		{"unknown anchor", "name: *a\n", []string{"t.yaml:1:1: invalid YAML: unknown anchor 'a' referenced"}},
		{"second document bad", "name: a\n---\n[\n", []string{"t.yaml:3:1: invalid YAML: did not find expected node content"}},

		// Keys.
		{"unknown key", base + "hyperparamters: {}\n", []string{`t.yaml:3:1: unknown key "hyperparamters" (did you mean "hyperparameters"?)`}},
		{"unknown key camel", base + "resources: {instanceType: local}\n", []string{`t.yaml:3:13: unknown key "instanceType" (did you mean "instance_type"?)`}},
		{"unknown key no match", base + "stopping: {zzz: 1}\n", []string{`t.yaml:3:12: unknown key "zzz" (known keys: max_runtime, grace)`}},
		{"duplicate key", base + "pull: true\npull: false\n", []string{`t.yaml:4:1: duplicate key "pull" (first at line 3)`}},
		{"merge key", base + "<<: {pull: true}\n", []string{"t.yaml:3:1: merge keys (<<) are not supported: write the keys out"}},
		{"list key", base + "? [a]\n: b\n", []string{"t.yaml:3:3: keys must be plain names, not a list"}},
		{"missing name", "image: x\n", []string{`t.yaml:1:1: missing required key "name"`}},
		{"null name", "name:\nimage: x\n", []string{`t.yaml:1:1: "name" needs a value`}},
		{"missing image", "name: x\npull: true\n", []string{`t.yaml:1:1: missing required key "image" (or "build"): the image to run`}},
		{"null image", "name: x\nimage: ~\n", []string{`t.yaml:2:1: missing required key "image" (or "build"): the image to run`}},

		// Types.
		{"mapping wanted", base + "hyperparameters: [a]\n", []string{`t.yaml:3:18: "hyperparameters" must be a mapping, not a list`}},
		{"scalar wanted", "name: [a]\nimage: x\n", []string{`t.yaml:1:7: "name" must be a single value, not a list`}},
		{"list wanted", base + "metrics: {name: a}\n", []string{`t.yaml:3:10: "metrics" must be a list, not a mapping`}},
		{"bool wanted", base + "pull: yes\n", []string{`t.yaml:3:7: "pull" must be true or false, not "yes"`}},
		{"int wanted", base + "resources: {instance_count: one}\n", []string{`t.yaml:3:29: "instance_count" must be a whole number, not "one"`}},

		// name and image.
		{"bad name", "name: my_job\nimage: x\n", []string{`t.yaml:1:7: name "my_job" is not a valid job name: 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit`}},
		{"name trailing hyphen", "name: job-\nimage: x\n", []string{`t.yaml:1:7: name "job-" is not a valid job name: 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit`}},
		{"name too long", "name: " + strings.Repeat("a", 64) + "\nimage: x\n", []string{`t.yaml:1:7: name "` + strings.Repeat("a", 64) + `" is not a valid job name: 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit`}},
		{"bad image", "name: x\nimage: My/Image\n", []string{`t.yaml:2:8: image "My/Image" is not a valid image reference: want [registry/]repository[:tag][@digest], repository in lower case`}},

		// build, entrypoint, arguments.
		{"build no context", "name: x\nbuild: {dockerfile: D}\n", []string{`t.yaml:2:8: missing required key "context"`}},
		{"build s3 context", "name: x\nbuild: s3://bkt/ctx\n", []string{`t.yaml:2:8: build "s3://bkt/ctx" must be a local path`}},
		{"dockerfile outside", "name: x\nbuild: {context: ., dockerfile: ../Dockerfile}\n", []string{`t.yaml:2:33: dockerfile "../Dockerfile" must be a relative path inside the build context`}},
		{"build args list", "name: x\nbuild: {context: ., args: [a]}\n", []string{`t.yaml:2:27: "args" must be a mapping, not a list`}},
		{"build arg null", "name: x\nbuild: {context: ., args: {A: }}\n", []string{`t.yaml:2:28: build arg "A" needs a value (write "" for an empty one)`}},
		{"empty entrypoint", base + "entrypoint: []\n", []string{`t.yaml:3:13: "entrypoint" must not be empty: leave it out to keep the image's ENTRYPOINT`}},
		{"arguments mapping", base + "arguments: {a: b}\n", []string{`t.yaml:3:12: "arguments" must be a string or a list of strings, not a mapping`}},
		{"arguments nested", base + "arguments: [a, [b], ~]\n", []string{`t.yaml:3:16: items of "arguments" must be strings, not a list`, `t.yaml:3:21: items of "arguments" must be strings, not null`}},

		// hyperparameters.
		{"hp null", base + "hyperparameters:\n  lr:\n", []string{`t.yaml:4:3: hyperparameter "lr" has no value: write lr: "" for an empty string`}},
		{"hp too many", base + "hyperparameters: {" + numbered("h", 101) + "}\n", []string{`t.yaml:3:18: too many hyperparameters: 101, SageMaker allows at most 100`}},
		{"hp key too long", base + "hyperparameters: {" + strings.Repeat("k", 257) + ": 1}\n", []string{`t.yaml:3:19: hyperparameter name must be 1 to 256 characters`}},
		{"hp value too long", base + "hyperparameters: {v: " + strings.Repeat("x", 2501) + "}\n", []string{`t.yaml:3:22: hyperparameter "v": value is 2501 characters, SageMaker allows at most 2500`}},
		{"hp json too long", base + "hyperparameters: {v: [" + strings.Repeat("1234567,", 400) + "]}\n", []string{`t.yaml:3:22: hyperparameter "v": value is longer than 2500 characters, SageMaker's limit`}},
		{"hp nan", base + "hyperparameters: {v: [1, .nan]}\n", []string{`t.yaml:3:26: hyperparameter "v": .nan cannot be written as JSON: quote it to pass a string`}},
		{"hp list key", base + "hyperparameters: {v: {[a]: 1}}\n", []string{`t.yaml:3:23: hyperparameter "v": mapping keys must be scalars, not a list`}},
		{"hp duplicate inner key", base + "hyperparameters: {v: {a: 1, a: 2}}\n", []string{`t.yaml:3:29: hyperparameter "v": duplicate key "a"`}},
		{"hp inner merge", base + "hyperparameters: {v: {<<: {a: 1}}}\n", []string{`t.yaml:3:23: hyperparameter "v": merge keys (<<) are not supported: write the keys out`}},

		// environment.
		{"env bad name", base + "environment: {1A: x, A-B: y}\n", []string{
			`t.yaml:3:15: environment variable name "1A" must be letters, digits and _, not starting with a digit`,
			`t.yaml:3:22: environment variable name "A-B" must be letters, digits and _, not starting with a digit`}},
		{"env list", base + "environment: {A: [1]}\n", []string{`t.yaml:3:18: environment variable "A" must be a string, number or boolean, not a list`}},
		{"env null", base + "environment: {A: }\n", []string{`t.yaml:3:15: environment variable "A" has no value: write A: "" for an empty one`}},
		{"env too many", base + "environment: {" + numbered("E", 101) + "}\n", []string{`t.yaml:3:14: too many environment variables: 101, SageMaker allows at most 100`}},
		{"env name too long", base + "environment: {" + strings.Repeat("K", 513) + ": 1}\n", []string{`t.yaml:3:15: environment variable name is longer than 512 characters, SageMaker's limit`}},
		{"env value too long", base + "environment: {K: " + strings.Repeat("v", 513) + "}\n", []string{`t.yaml:3:18: environment variable "K": value is longer than 512 characters, SageMaker's limit`}},
	}
	run(t, tests)
}

func run(t *testing.T, tests []struct {
	name string
	src  string
	want []string
}) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseErrors(t, tt.src, Overrides{})
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// numbered is n flow-mapping entries prefix0: 0, prefix1: 1, ...
func numbered(prefix string, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("%s%d: %d", prefix, i, i)
	}
	return strings.Join(parts, ", ")
}

func TestErrorsInputs(t *testing.T) {
	in := base + "inputs:\n"
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"not a mapping", base + "inputs: [s3://b/k]\n", []string{`t.yaml:3:9: "inputs" must be a mapping, not a list`}},
		{"bad channel name", in + "  a b: s3://bkt/k\n", []string{`t.yaml:4:3: channel name "a b" must be 1 to 64 letters, digits, '.', '-' and '_'`}},
		{"channel name too long", in + "  " + strings.Repeat("c", 65) + ": s3://bkt/k\n", []string{`t.yaml:4:3: channel name "` + strings.Repeat("c", 65) + `" must be 1 to 64 letters, digits, '.', '-' and '_'`}},
		{"too many channels", base + "inputs: {" + numbered("c", 21) + "}\n", []string{`t.yaml:3:9: too many input channels: 21, SageMaker allows at most 20`}},
		{"null channel", in + "  train:\n", []string{`t.yaml:4:3: input "train" needs a uri`}},
		{"list channel", in + "  train: [a]\n", []string{`t.yaml:4:10: "train" must be a mapping, not a list`}},
		{"missing uri", in + "  train: {mode: pipe}\n", []string{`t.yaml:4:10: missing required key "uri"`}},
		{"unknown input key", in + "  train: {uri: d, mdoe: pipe}\n", []string{`t.yaml:4:19: unknown key "mdoe" (did you mean "mode"?)`}},
		{"empty uri", in + "  train: ''\n", []string{`t.yaml:4:10: uri "" must not be empty`}},
		{"unsupported scheme", in + "  train: https://host/data\n", []string{`t.yaml:4:10: uri "https://host/data" has an unsupported scheme: want s3://bucket/prefix, file:///abs/path or a path`}},
		{"relative file uri", in + "  train: file://data/x\n", []string{`t.yaml:4:10: uri "file://data/x" is not a file URI with an absolute path: want file:///abs/path (or a relative path without file://)`}},
		{"bad bucket", in + "  train: s3://My_Bucket/k\n", []string{`t.yaml:4:10: uri "s3://My_Bucket/k" has an invalid bucket name "My_Bucket": want 3 to 63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit`}},
		{"ip bucket", in + "  train: s3://192.168.1.1/k\n", []string{`t.yaml:4:10: uri "s3://192.168.1.1/k" has an invalid bucket name "192.168.1.1": it looks like an IP address`}},
		{"dotted bucket", in + "  train: s3://a..b/k\n", []string{`t.yaml:4:10: uri "s3://a..b/k" has an invalid bucket name "a..b": two dots in a row`}},
		{"uri too long", in + "  train: s3://bkt/" + strings.Repeat("k", 1020) + "\n", []string{`t.yaml:4:10: uri "s3://bkt/` + strings.Repeat("k", 1020) + `" is longer than 1024 characters, SageMaker's limit for S3 URIs`}},
		{"bad mode", in + "  train: {uri: d, mode: stream}\n", []string{`t.yaml:4:25: invalid mode "stream": want file, fastfile or pipe`}},
		{"bad type", in + "  train: {uri: s3://bkt/k, type: csv}\n", []string{`t.yaml:4:34: invalid type "csv": want s3prefix, manifest or augmented_manifest`}},
		{"bad distribution", in + "  train: {uri: d, distribution: random}\n", []string{`t.yaml:4:33: invalid distribution "random": want fully_replicated or sharded_by_s3_key`}},
		{"bad wrapper", in + "  train: {uri: d, record_wrapper: tfrecord}\n", []string{`t.yaml:4:35: invalid record_wrapper "tfrecord": want none or recordio`}},
		{"bad compression", in + "  train: {uri: d, compression: bz2}\n", []string{`t.yaml:4:32: invalid compression "bz2": want none or gzip`}},
		{"content type too long", in + "  train: {uri: d, content_type: " + strings.Repeat("t", 257) + "}\n", []string{`t.yaml:4:33: content_type is longer than 256 characters, SageMaker's limit`}},
		{"gzip needs pipe", in + "  train: {uri: d, compression: gzip}\n", []string{`t.yaml:4:32: input "train": compression gzip needs mode pipe: SageMaker decompresses only in Pipe mode`}},
		{"recordio needs pipe", in + "  train: {uri: d, mode: fastfile, record_wrapper: RecordIO}\n", []string{`t.yaml:4:51: input "train": record_wrapper recordio needs mode pipe: SageMaker wraps records only in Pipe mode`}},
		{"augmented not fastfile", in + "  train: {uri: s3://bkt/m, type: augmented_manifest, mode: fastfile, attribute_names: [a]}\n", []string{`t.yaml:4:60: input "train": type augmented_manifest needs mode pipe (SageMaker's only mode for augmented manifests) or file (a jobrun extension)`}},
		{"augmented needs names", in + "  train: {uri: s3://bkt/m, type: augmented_manifest, mode: pipe}\n", []string{`t.yaml:4:34: input "train": type augmented_manifest needs attribute_names`}},
		{"names need augmented", in + "  train: {uri: s3://bkt/m, attribute_names: [a]}\n", []string{`t.yaml:4:45: input "train": attribute_names applies only to type augmented_manifest`}},
		{"attribute names not a list", in + "  train: {uri: s3://bkt/m, type: augmented_manifest, mode: pipe, attribute_names: a}\n", []string{`t.yaml:4:83: "attribute_names" must be a list of strings, not a string`}},
		{"too many attribute names", in + "  train: {uri: s3://bkt/m, type: augmented_manifest, mode: pipe, attribute_names: [" + strings.Repeat("a,", 16) + "a]}\n", []string{`t.yaml:4:83: too many attribute_names: 17, SageMaker allows at most 16`}},
		{"local manifest", in + "  train: {uri: ./m.json, type: manifest}\n", []string{`t.yaml:4:32: input "train": type manifest is not supported yet for local paths: use s3prefix (a folder) or an s3:// uri`}},
		{"duplicate channel", in + "  a: s3://bkt/k\n  a: s3://bkt/j\n", []string{`t.yaml:5:3: duplicate key "a" (first at line 4)`}},
	}
	run(t, tests)
}

func TestErrorsOthers(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"output list", base + "output: [a]\n", []string{`t.yaml:3:9: "output" must be a mapping, not a list`}},
		{"output compression", base + "output: {compression: zip}\n", []string{`t.yaml:3:23: invalid compression "zip": want none or gzip`}},
		{"output scheme", base + "output: gs://b/x\n", []string{`t.yaml:3:9: output "gs://b/x" has an unsupported scheme: want s3://bucket/prefix, file:///abs/path or a path`}},
		{"checkpoint no uri", base + "checkpoint: {local_path: /ck}\n", []string{`t.yaml:3:13: missing required key "uri"`}},
		{"checkpoint relative path", base + "checkpoint: {uri: s3://bkt/c, local_path: ck}\n", []string{`t.yaml:3:43: local_path "ck" must be an absolute path in the container`}},
		{"checkpoint over model", base + "checkpoint: {uri: s3://bkt/c, local_path: /opt/ml/model/ck}\n", []string{`t.yaml:3:43: local_path "/opt/ml/model/ck" must not be inside /opt/ml/model, which jobrun mounts itself`}},
		{"checkpoint over opt/ml", base + "checkpoint: {uri: s3://bkt/c, local_path: /opt/ml/}\n", []string{`t.yaml:3:43: local_path "/opt/ml/" must not be /opt/ml: it would hide the container's files`}},
		{"multi-host", base + "resources: {instance_count: 2}\n", []string{`t.yaml:3:29: instance_count 2: multi-host jobs are not supported yet`}},
		{"zero hosts", base + "resources: {instance_count: 0}\n", []string{`t.yaml:3:29: instance_count must be at least 1, not 0`}},
		{"instance type", base + "resources: {instance_type: p3.2xlarge}\n", []string{`t.yaml:3:28: invalid instance_type "p3.2xlarge": want local, local_gpu or a SageMaker type such as ml.m5.xlarge`}},
		{"negative gpus", base + "resources: {gpus: -1}\n", []string{`t.yaml:3:19: gpus must not be negative`}},
		{"bool gpus", base + "resources: {gpus: true}\n", []string{`t.yaml:3:19: invalid gpus "true": want all, a count, or device ids as a list or comma-separated string`}},
		{"bad gpu id", base + "resources: {gpus: '0,,1'}\n", []string{`t.yaml:3:19: invalid GPU device id "": want an index such as 0 or a UUID such as GPU-3a2c...`}},
		{"duplicate gpu", base + "resources: {gpus: [1, 1]}\n", []string{`t.yaml:3:19: GPU device "1" is listed twice`}},
		{"shm size", base + "resources: {shm_size: 1 gallon}\n", []string{`t.yaml:3:23: shm_size "1 gallon" is not a size: want bytes or a number with a unit, such as 512m, 1g or 2GiB`}},
		{"shm size zero", base + "resources: {shm_size: 0}\n", []string{`t.yaml:3:23: shm_size "0" must be more than 0`}},
		{"memory too small", base + "resources: {memory: 4m}\n", []string{`t.yaml:3:21: memory "4m" is too small: at least 6m`}},
		{"memory too large", base + "resources: {memory: 9000000p}\n", []string{`t.yaml:3:21: memory "9000000p" is too large`}},
		{"memory list", base + "resources: {memory: [1g]}\n", []string{`t.yaml:3:21: "memory" must be a size such as 512m or 1g, not a list`}},
		{"cpus zero", base + "resources: {cpus: 0}\n", []string{`t.yaml:3:19: cpus must be more than 0, not 0`}},
		{"cpus string", base + "resources: {cpus: two}\n", []string{`t.yaml:3:19: "cpus" must be a number, not "two"`}},
		{"max runtime too long", base + "stopping: {max_runtime: 29d}\n", []string{`t.yaml:3:25: max_runtime 29d must be between 1s and 28 days (672h), SageMaker's limits`}},
		{"max runtime zero", base + "stopping: {max_runtime: 0}\n", []string{`t.yaml:3:25: max_runtime 0 must be between 1s and 28 days (672h), SageMaker's limits`}},
		{"max runtime word", base + "stopping: {max_runtime: forever}\n", []string{`t.yaml:3:25: max_runtime "forever" is not a duration: want seconds or a number with a unit, such as 90m, 24h or 2d`}},
		{"negative grace", base + "stopping: {grace: -1s}\n", []string{`t.yaml:3:19: grace -1s must not be negative`}},
		{"grace list", base + "stopping: {grace: [1]}\n", []string{`t.yaml:3:19: "grace" must be a duration such as 90m or 24h, not a list`}},
		{"metric item", base + "metrics: [loss]\n", []string{`t.yaml:3:11: "metrics" must be a mapping, not a string`}},
		{"metric missing regex", base + "metrics: [{name: a}]\n", []string{`t.yaml:3:11: missing required key "regex"`}},
		{"metric no group", base + "metrics: [{name: a, regex: 'loss=[0-9]+'}]\n", []string{`t.yaml:3:28: metric regex "loss=[0-9]+" needs a capture group for the value, such as loss=([0-9.]+)`}},
		{"metric bad regex", base + "metrics: [{name: a, regex: '(?<=x)(y)'}]\n", []string{"t.yaml:3:28: metric regex \"(?<=x)(y)\" does not compile: error parsing regexp: invalid named capture: `(?<=x)(y)`"}},
		{"metric regex too long", base + "metrics: [{name: a, regex: '(" + strings.Repeat("x", 499) + ")'}]\n", []string{`t.yaml:3:28: metric regex must be 1 to 500 characters`}},
		{"metric name too long", base + "metrics: [{name: " + strings.Repeat("n", 256) + ", regex: (x)}]\n", []string{`t.yaml:3:18: metric name must be 1 to 255 characters`}},
		{"metric duplicate", base + "metrics:\n- {name: a, regex: (x)}\n- {name: a, regex: (y)}\n", []string{`t.yaml:5:10: duplicate metric name "a" (first at line 4)`}},
		{"too many metrics", base + "metrics: [" + strings.Repeat("{name: a, regex: (x)},", 41) + "]\n", []string{`t.yaml:3:10: too many metrics: 41, SageMaker allows at most 40`}},
	}
	run(t, tests)
}

// TestAllErrorsAtOnce checks that Parse reports every problem, in file order.
func TestAllErrorsAtOnce(t *testing.T) {
	src := `name: bad_name
image: Bad
hyperparamters: {lr: 1}
inputs:
  train: {uri: s3://b/k, mode: pipe}
resources: {gpus: -1, instance_count: 3}
metrics: [{name: m, regex: nogroup}]
`
	want := []string{
		`t.yaml:1:7: name "bad_name" is not a valid job name: 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit`,
		`t.yaml:2:8: image "Bad" is not a valid image reference: want [registry/]repository[:tag][@digest], repository in lower case`,
		`t.yaml:3:1: unknown key "hyperparamters" (did you mean "hyperparameters"?)`,
		`t.yaml:5:16: uri "s3://b/k" has an invalid bucket name "b": want 3 to 63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit`,
		`t.yaml:6:19: gpus must not be negative`,
		`t.yaml:6:39: instance_count 3: multi-host jobs are not supported yet`,
		`t.yaml:7:28: metric regex "nogroup" needs a capture group for the value, such as loss=([0-9.]+)`,
	}
	if got := parseErrors(t, src, Overrides{}); !reflect.DeepEqual(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
