#!/usr/bin/env python3
"""Checks .github/workflows/build-slm.yml (ctest workflow_valid) without GitHub: it parses as YAML (python3-yaml,
from tools/install_deps), has the keys GitHub needs for a manual workflow (on.workflow_dispatch.inputs, one job
with runs-on, container debian:12 and steps), every `${{ inputs.X }}` names a declared input, every `run` script
passes `bash -n`, the steps check out, build, run `slm pipeline`, upload an artifact and attach a release, and
the quant choices and the options given to `slm pipeline` exist in the binary's `slm pipeline --help`.

    python3 tests/build_paths/check_workflow.py WORKFLOW.yml [SLM]

Keys follow GitHub Docs "Workflow syntax for GitHub Actions" (on.workflow_dispatch.inputs: description, required,
default, type, options; jobs.<job_id>: runs-on, container, permissions, steps[*]: uses / run / with / env).
"""
import re
import subprocess
import sys

try:
    import yaml
except ImportError:
    sys.exit("FAIL: python3-yaml is not installed — run tools/install_deps")

errors = []


def fail(msg):
    errors.append(msg)


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: check_workflow.py WORKFLOW.yml [SLM]")
    path = sys.argv[1]
    text = open(path, encoding="utf-8").read()
    try:
        wf = yaml.safe_load(text)
    except yaml.YAMLError as e:
        sys.exit(f"FAIL: {path}: not valid YAML ({e})")
    if not isinstance(wf, dict):
        sys.exit(f"FAIL: {path}: the top level must be a mapping")
    # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean true; GitHub reads it as "on".
    on = wf.get("on", wf.get(True))
    dispatch = on.get("workflow_dispatch") if isinstance(on, dict) else None
    inputs = dispatch.get("inputs") if isinstance(dispatch, dict) else None
    if not isinstance(inputs, dict):
        sys.exit(f"FAIL: {path}: needs on.workflow_dispatch.inputs")
    for name in ("model", "data", "quant"):
        if name not in inputs:
            fail(f"on.workflow_dispatch.inputs has no '{name}'")
    for name, spec in inputs.items():
        if not isinstance(spec, dict) or "description" not in spec:
            fail(f"input '{name}' needs a description")
            continue
        if spec.get("type", "string") not in ("string", "choice", "boolean", "number", "environment"):
            fail(f"input '{name}': unknown type {spec.get('type')!r}")
        if spec.get("type") == "choice":
            if not spec.get("options"):
                fail(f"input '{name}': a choice needs options")
            elif "default" in spec and spec["default"] not in spec["options"]:
                fail(f"input '{name}': default {spec['default']!r} is not one of its options")
    for ref in sorted(set(re.findall(r"\$\{\{\s*inputs\.([A-Za-z0-9_-]+)", text)) - set(inputs)):
        fail(f"${{{{ inputs.{ref} }}}} names no declared input")
    if wf.get("permissions", {}).get("contents") != "write":
        fail("permissions.contents must be write (creating a release needs it)")
    jobs = wf.get("jobs")
    if not isinstance(jobs, dict) or len(jobs) != 1:
        sys.exit(f"FAIL: {path}: expected exactly one job")
    (job_name, job), = jobs.items()
    if "runs-on" not in job:
        fail(f"job '{job_name}' has no runs-on")
    image = job.get("container", {}).get("image") if isinstance(job.get("container"), dict) else job.get("container")
    if image != "debian:12":
        fail(f"job '{job_name}': container must be debian:12 (tools/install_deps uses Debian 12 names), got {image!r}")
    steps = job.get("steps")
    if not isinstance(steps, list) or not steps:
        sys.exit(f"FAIL: {path}: job '{job_name}' has no steps")
    kinds = []
    pipeline_script = ""
    for i, st in enumerate(steps):
        if not isinstance(st, dict) or ("uses" in st) == ("run" in st):
            fail(f"step {i}: needs exactly one of uses / run")
            continue
        if "uses" in st:
            if not re.fullmatch(r"[\w.-]+/[\w.-]+@[\w.-]+", st["uses"]):
                fail(f"step {i}: uses '{st['uses']}' is not OWNER/REPO@REF")
            kinds.append(st["uses"].split("@")[0])
            continue
        script = st["run"]
        # ${{ … }} is replaced before the shell sees the script.
        r = subprocess.run(["bash", "-n"], input=re.sub(r"\$\{\{[^}]*\}\}", "X", script), text=True,
                           capture_output=True)
        if r.returncode != 0:
            fail(f"step {i} ({st.get('name', 'run')}): bash -n: {r.stderr.strip()}")
        if "build/slm pipeline" in script:
            kinds.append("pipeline")
            pipeline_script = script
        elif "tools/build" in script:
            kinds.append("build")
        else:
            kinds.append("run")
    want = ["actions/checkout", "build", "pipeline", "actions/upload-artifact", "softprops/action-gh-release"]
    order = [k for k in kinds if k in want]
    if order != want:
        fail(f"steps must include, in this order, {want}; found {order}")
    if len(sys.argv) == 3:
        help_text = subprocess.run([sys.argv[2], "pipeline", "--help"], text=True, capture_output=True).stdout
        known = set(re.findall(r"^  (--[a-z0-9-]+)", help_text, re.M))
        quant_line = next((l for l in help_text.splitlines() if l.startswith("  --quant")), "")
        for q in inputs.get("quant", {}).get("options", []):
            if not re.search(rf"(?<![\w]){re.escape(q)}(?![\w])", quant_line):
                fail(f"quant option '{q}' is not accepted by slm pipeline --quant ({quant_line.strip()})")
        used = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", pipeline_script))
        used |= set(re.findall(r"(--[a-z][a-z0-9-]*)", str(inputs.get("train_args", {}).get("default", ""))))
        for opt in sorted(used - known):
            fail(f"the workflow passes {opt} to slm pipeline, which `slm pipeline --help` does not list")
    for e in errors:
        print("FAIL:", e)
    if errors:
        sys.exit(1)
    print(f"OK: {path}: inputs {', '.join(inputs)}; job '{job_name}' on {image}; steps {' -> '.join(order)}")


if __name__ == "__main__":
    main()
