"""Print the SM_* environment the real sagemaker-training-toolkit computes.

Used by contract's TestCrosscheckToolkit (opt-in: JOBRUN_TOOLKIT_SRC names a
checkout's src/ directory). Usage:

    toolkit_env.py TOOLKIT_SRC OPT_ML ENV_JSON NUM_CPUS NUM_GPUS

OPT_ML is a directory jobrun's Tree.WriteConfig wrote (it stands for
/opt/ml); ENV_JSON is a JSON object of the environment the container starts
with, SM_* excluded, as on SageMaker. Output: a JSON object of the toolkit's
Environment().to_env_vars(), with OPT_ML spelled /opt/ml again.
"""
import json
import os
import sys
import types

src, opt_ml, env_json, cpus, gpus = sys.argv[1:6]

# The toolkit imports boto3 only to default the region; stand in for it.
boto3 = types.ModuleType("boto3")
boto3.session = types.SimpleNamespace(
    Session=lambda: types.SimpleNamespace(region_name=None))
sys.modules["boto3"] = boto3

os.environ.clear()
with open(env_json) as f:
    os.environ.update(json.load(f))
os.environ["SAGEMAKER_BASE_DIR"] = opt_ml
sys.path.insert(0, src)

from sagemaker_training import environment  # noqa: E402

environment.num_cpus = lambda: int(cpus)
environment.num_gpus = lambda: int(gpus)

env = environment.Environment().to_env_vars()
print(json.dumps({k: v.replace(opt_ml, "/opt/ml") for k, v in env.items()}))
