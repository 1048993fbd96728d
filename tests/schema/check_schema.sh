#!/usr/bin/env bash
# Validates the shipped configuration files against config/openrisk-cache.schema.json:
#   every config/*.yaml must validate; every tests/data/schema_invalid/*.yaml must be rejected.
# Needs Debian's python3-jsonschema and python3-yaml (apt-get install -y python3-jsonschema python3-yaml);
# /usr/bin/python3 is used on purpose, since a python3 earlier on PATH (pyenv) may lack those modules.
# Prints one line per file and `N passed, N failed` last; exits non-zero on any mismatch.
set -u

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${PYTHON:-/usr/bin/python3}"

if ! "$PY" -c 'import jsonschema, yaml' 2>/dev/null; then
  echo "error: $PY lacks jsonschema/yaml (apt-get install -y python3-jsonschema python3-yaml)" >&2
  echo "0 passed, 1 failed"
  exit 2
fi

"$PY" - "$ROOT" <<'PYEOF'
import glob, json, os, sys

import jsonschema
import yaml

root = sys.argv[1]
schema_path = os.path.join(root, "config", "openrisk-cache.schema.json")
with open(schema_path) as f:
    schema = json.load(f)
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)

passed = failed = 0


def errors_of(path):
    try:
        with open(path) as f:
            doc = yaml.safe_load(f)
    except yaml.YAMLError as e:
        return ["YAML: %s" % str(e).replace("\n", " ")]
    if doc is None:
        doc = {}
    return ["%s: %s" % ("/".join(str(p) for p in e.absolute_path) or "(top)", e.message)
            for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))]


valid = sorted(glob.glob(os.path.join(root, "config", "*.yaml")) +
               glob.glob(os.path.join(root, "load_tests", "config", "*.yaml")))
invalid = sorted(glob.glob(os.path.join(root, "tests", "data", "schema_invalid", "*.yaml")))
if not valid or not invalid:
    print("error: no files found under config/ or tests/data/schema_invalid/")
    failed += 1

for path in valid:
    rel = os.path.relpath(path, root)
    errs = errors_of(path)
    if errs:
        failed += 1
        print("FAIL  %s (must validate):" % rel)
        for e in errs[:20]:
            print("        " + e)
    else:
        passed += 1
        print("ok    %s validates" % rel)

for path in invalid:
    rel = os.path.relpath(path, root)
    errs = errors_of(path)
    if errs:
        passed += 1
        print("ok    %s rejected: %s" % (rel, errs[0][:150]))
    else:
        failed += 1
        print("FAIL  %s (must be rejected) validates" % rel)

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
PYEOF
