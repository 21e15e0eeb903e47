#!/usr/bin/env python3
"""Checks notebooks/slm_colab.ipynb (ctest notebook_valid): a valid nbformat 4 notebook with no outputs, whose
cells parse (Python cells with compile(), %%bash cells with bash -n) and come in the order the build path needs,
and whose `slm pipeline` options exist in the binary's `slm pipeline --help`.

    python3 tests/build_paths/check_notebook.py NOTEBOOK [SLM]

Structure rules from the nbformat v4 schema (jupyter/nbformat nbformat/v4/nbformat.v4.4.schema.json): top-level
keys metadata / nbformat / nbformat_minor / cells and no others; a cell is markdown, code or raw with cell_type,
metadata and source (a string or a list of strings); code cells also have outputs and execution_count.
"""
import json
import re
import subprocess
import sys

# Markers that identify the step cells, in the order they must run.
ORDER = [
    ("settings", "REPO_URL ="),
    ("clone", "git clone"),
    ("build", "cmake --build build"),
    ("download", 'hf download "$SLM_MODEL"'),
    ("pipeline", "build/slm pipeline"),
    ("zip", "make_archive"),
]
CELL_KEYS = {
    "markdown": {"cell_type", "metadata", "source", "attachments", "id"},
    "raw": {"cell_type", "metadata", "source", "attachments", "id"},
    "code": {"cell_type", "metadata", "source", "outputs", "execution_count", "id"},
}

errors = []


def fail(msg):
    errors.append(msg)


def source_text(i, cell):
    src = cell.get("source")
    if isinstance(src, str):
        return src
    if isinstance(src, list) and all(isinstance(s, str) for s in src):
        for s in src[:-1]:
            if not s.endswith("\n"):
                fail(f"cell {i}: source line {s!r} does not end with a newline (nbformat joins the list as is)")
        return "".join(src)
    fail(f"cell {i}: source must be a string or a list of strings")
    return ""


def check_code(i, text):
    lines = text.split("\n")
    if lines[0].strip() == "%%bash":
        r = subprocess.run(["bash", "-n"], input="\n".join(lines[1:]), text=True, capture_output=True)
        if r.returncode != 0:
            fail(f"cell {i} (%%bash): bash -n: {r.stderr.strip()}")
        return
    # Python with IPython's line magics / shell escapes, which are not Python.
    py = "\n".join("" if l.lstrip().startswith(("!", "%")) else l for l in lines)
    try:
        compile(py, f"cell {i}", "exec")
    except SyntaxError as e:
        fail(f"cell {i} (python): {e}")


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: check_notebook.py NOTEBOOK [SLM]")
    path = sys.argv[1]
    try:
        with open(path, encoding="utf-8") as f:
            nb = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"FAIL: {path}: not valid JSON ({e})")
    if not isinstance(nb, dict) or set(nb) != {"metadata", "nbformat", "nbformat_minor", "cells"}:
        keys = sorted(nb) if isinstance(nb, dict) else type(nb).__name__
        sys.exit(f"FAIL: {path}: top level must hold exactly metadata, nbformat, nbformat_minor, cells; has {keys}")
    if nb["nbformat"] != 4 or not isinstance(nb["nbformat_minor"], int) or nb["nbformat_minor"] < 3:
        fail(f"nbformat must be 4 with an integer nbformat_minor >= 3, got {nb['nbformat']}.{nb['nbformat_minor']}")
    ks = nb["metadata"].get("kernelspec", {})
    if not isinstance(ks.get("name"), str) or not isinstance(ks.get("display_name"), str):
        fail("metadata.kernelspec needs string name and display_name")
    cells = nb["cells"]
    if not isinstance(cells, list) or not cells:
        sys.exit(f"FAIL: {path}: cells must be a non-empty list")
    texts = []
    for i, c in enumerate(cells):
        t = c.get("cell_type") if isinstance(c, dict) else None
        if t not in CELL_KEYS:
            fail(f"cell {i}: cell_type must be markdown, code or raw, got {t!r}")
            texts.append("")
            continue
        missing = {"cell_type", "metadata", "source"} - set(c)
        if t == "code":
            missing |= {"outputs", "execution_count"} - set(c)
        if missing:
            fail(f"cell {i} ({t}): missing {sorted(missing)}")
        extra = set(c) - CELL_KEYS[t]
        if extra:
            fail(f"cell {i} ({t}): keys not allowed by nbformat 4: {sorted(extra)}")
        if not isinstance(c.get("metadata"), dict):
            fail(f"cell {i}: metadata must be an object")
        text = source_text(i, c)
        texts.append(text if t == "code" else "")
        if t == "code":
            if c.get("outputs") != []:
                fail(f"cell {i}: outputs must be [] (commit the notebook without outputs)")
            if c.get("execution_count") is not None:
                fail(f"cell {i}: execution_count must be null")
            check_code(i, text)
    # Order of the steps: each marker in exactly one code cell, the cells in ORDER's order.
    where = []
    for name, marker in ORDER:
        hits = [i for i, t in enumerate(texts) if marker in t]
        if len(hits) != 1:
            fail(f"step '{name}': expected one code cell containing {marker!r}, found cells {hits}")
            where.append(None)
        else:
            where.append(hits[0])
    for (a, ia), (b, ib) in zip(zip(ORDER, where), zip(ORDER[1:], where[1:])):
        if ia is not None and ib is not None and ia >= ib:
            fail(f"step '{a[0]}' (cell {ia}) must come before step '{b[0]}' (cell {ib})")
    if where[2] is not None and "-DSLM_CUDA=ON" not in texts[where[2]]:
        fail(f"the build cell (cell {where[2]}) must configure with -DSLM_CUDA=ON")
    # The options the pipeline cell passes exist in this binary's `slm pipeline --help`.
    if len(sys.argv) == 3 and where[4] is not None:
        help_text = subprocess.run([sys.argv[2], "pipeline", "--help"], text=True, capture_output=True).stdout
        known = set(re.findall(r"^  (--[a-z0-9-]+)", help_text, re.M))
        used = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", texts[where[4]]))
        settings = texts[where[0]]
        m = re.search(r'^TRAIN_ARGS = "([^"]*)"', settings, re.M)
        if m:
            used |= set(re.findall(r"(--[a-z][a-z0-9-]*)", m.group(1)))
        for opt in sorted(used - known):
            fail(f"the notebook passes {opt} to slm pipeline, which `slm pipeline --help` does not list")
    for e in errors:
        print("FAIL:", e)
    if errors:
        sys.exit(1)
    print(f"OK: {path}: nbformat {nb['nbformat']}.{nb['nbformat_minor']}, {len(cells)} cells, steps in order "
          + " < ".join(f"{n}@{i}" for (n, _), i in zip(ORDER, where)))


if __name__ == "__main__":
    main()
