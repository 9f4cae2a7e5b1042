"""Generate cases.json: how CPython and the real toolkit read and render
hyperparameter values. contract's TestPythonCases replays it, so the Go
emulation is pinned to what Python does, not to what we remember of it.

    python3 gen.py /path/to/sagemaker-training-toolkit/src > cases.json

Rendered strings that hold a lone surrogate cannot be UTF-8 JSON; they are
given as base64 of their WTF-8 bytes (UTF-8 with 'surrogatepass') under
the field name with "_b64".
"""
import base64
import json
import platform
import sys

sys.path.insert(0, sys.argv[1])
from sagemaker_training import mapping  # noqa: E402  (needs only six)

INPUTS = [
    # numbers
    "10", "-0", "0", "007", "1.", ".5", "+1", "-", "1.5", "-1.5e3", "1e5", "1E5",
    "1e+5", "1e-5", "1e-7", "0.0001", "0.00001", "1e16", "1e15", "9999999999999998.0",
    "123456789012345678", "1.7976931348623157e308", "1e309", "-1e309", "5e-324",
    "2e-324", "0.1", "100.0", "1e22", "12345678901234567890123", "2e", "2e+", "1.e5",
    "0." + "3" * 400, "1" + "0" * 400 + ".5",
    # constants
    "NaN", "-NaN", "nan", "Infinity", "-Infinity", "infinity", "true", "True",
    "false", "null", "None", "nullx",
    # whitespace and framing
    "", " ", " 1 ", "\t1\n", "\r\n1", "\u00a01", "\ufeff1", "1 2", "1\x00",
    # containers
    "[1,2]", "[1, 2 ,3 ]", "[1,2,]", "[]", "[[]]", "{}", '{"a":1}', '{"b":1,"a":2}',
    '{"a":1,"a":2}', '{"a":1,"b":2,"a":3}', '{"a":1,}', "{'a':1}", '{"a" : [true,false,null]}',
    '{1: 2}', '{"a" 1}', "[1 2]", "[", "{", '{"a":',
    '[1.0, 2e-5, "x", null, true, {"k": "v"}]', '{"k": {"n": [1, {"m": null}]}}',
    '{"é": 1, "a": 2, "Z": 3}', '{"\\ud800": 1, "\\ue000": 2, "\\ud83d\\ude00": 3, "z": 4}',
    '[1e16, 1e-05, -0.0, 123.456, 1e-4]', '[NaN, Infinity, -Infinity]', '{"x": NaN}',
    '[[[[["deep"]]]]]', '{"d": {"b": 1, "a": {"y": 2, "x": 3}}}', '{"n": null, "s": "x"}',
    # strings
    '"abc"', '"a\\"b"', '"it\'s"', "'x'", '"\\u00e9"', '"é"', '"\\ud83d\\ude00"',
    '"\\ud800"', '"\\udc80x"', '"\\ud800\\u0041"', '"\\uD83D\\uDE00"', '"\\u12"',
    '"\\x41"', '"\\/"', '"a\\tb"', '"tab\there"', '"\\u0000"', '"\\u007f"', '"\\u200b"',
    '"\\u00a0"', '"\\b\\f\\r"', '"\\u0080\\u00ff\\u0100"', '"\\u0378"', '"\\U0001F600"',
    '"\\ud83d"', '"unterminated', '"\\', '"line1\\nline2"', '"😀"', '"\\u2028"',
    '["\\ud83d", "it\'s", "a\\"b", "both\'\\"", "back\\\\slash", "\\t\\n\\r\\u0007"]',
    '{"k": "v=1,w", "l": [1, "x"], "d": {"z": 1}, "n": null, "b": false, "f": 1e-5}',
    # not JSON at all
    "hello", "hello world", "s3://bucket/key", "a=b", "line1\nline2", "ça va", "😀",
]


def decode(s):
    try:
        return json.loads(s), False
    except (ValueError, TypeError):
        return s, True


def field(case, name, s):
    try:
        s.encode("utf-8")
        case[name] = s
    except UnicodeEncodeError:
        case[name + "_b64"] = base64.b64encode(s.encode("utf-8", "surrogatepass")).decode()


cases = []
for s in INPUTS:
    v, raw = decode(s)
    case = {"in": s, "raw": raw}
    case["dumps"] = json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    field(case, "str", str(v))
    field(case, "env", mapping.to_env_vars({"k": v})["SM_K"])
    field(case, "arg", mapping.to_cmd_args({"key": v})[1])
    cases.append(case)

json.dump({"python": platform.python_version(), "cases": cases}, sys.stdout, indent=1)
print()
