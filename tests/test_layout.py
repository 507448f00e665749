"""The package's shape, read from its source: modules import only along the data flow the README
states (every import, also those inside functions), no cycle, model code knows nothing of devices,
ranks or files, and no module grows past ~400 lines."""
import ast
import re
from pathlib import Path

import pytest

from conftest import ROOT

PKG = ROOT / "hrmlib"
# The flow, in order: a module may import its own layer and the layers before it, never one after.
FLOW = ["base", "data", "model", "compat", "runs", "train", "look", "tools"]
BASE = {"", "config", "grammar", "dist", "errors", "paths"}  # hrmlib/__init__.py and the small base modules


def layer(mod: str) -> str:
    part = mod.split(".")[1] if "." in mod else ""
    return "base" if part in BASE else part if part in FLOW else "tools"  # tools: launch, evaluate, bench, parity


def modules() -> dict[str, Path]:
    out = {}
    for f in PKG.rglob("*.py"):
        name = ".".join(f.relative_to(ROOT).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = f
    return out


def imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Every hrmlib module each module imports, at any depth of its code."""
    graph = {}
    for name, f in mods.items():
        pkg = name if f.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = pkg.split(".")[:len(pkg.split(".")) - node.level + 1] if node.level else []
                prefix = ".".join(base + ([node.module] if node.module else []))
                targets = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in mods else prefix for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t.startswith("hrmlib.") and t != name:
                    deps.add(t)
        graph[name] = deps
    return graph


def test_imports_follow_the_data_flow():
    bad = [f"{m} ({layer(m)}) imports {d} ({layer(d)})" for m, deps in imports(modules()).items()
           for d in deps if FLOW.index(layer(d)) > FLOW.index(layer(m))]
    assert not bad, "\n".join(bad)


def test_the_readme_states_the_flow_this_test_enforces():
    line = next(ln for ln in (ROOT / "README.md").read_text().splitlines() if ln.startswith("Data flows one way:"))
    stated = [re.sub(r"\s*\(.*?\)", "", part).strip(" `.") for part in line.split(":", 1)[1].split("→")]
    assert stated == FLOW, stated


def test_no_import_cycle():
    graph, state, cycles = imports(modules()), {}, []

    def visit(m, path):
        state[m] = "open"
        for d in graph[m]:
            if state.get(d) == "open":
                cycles.append(" → ".join(path[path.index(d):] + [d]))
            elif d not in state:
                visit(d, path + [d])
        state[m] = "done"
    for m in graph:
        if m not in state:
            visit(m, [m])
    assert not cycles, cycles


def test_the_checks_catch_what_they_look_for(tmp_path):
    """The two checks above, on a made-up package: a model module importing the trainer inside a
    function is a layering error, and two modules importing each other a cycle."""
    global PKG, ROOT
    old = PKG, ROOT
    try:
        ROOT, PKG = tmp_path, tmp_path / "hrmlib"
        for d in ("model", "train"):
            (PKG / d).mkdir(parents=True)
            (PKG / d / "__init__.py").write_text("")
        (PKG / "__init__.py").write_text("")
        (PKG / "model" / "hrm.py").write_text("def f():\n    from ..train import loop\n")
        (PKG / "train" / "loop.py").write_text("from ..model import hrm\n")
        graph = imports(modules())
        assert graph["hrmlib.model.hrm"] == {"hrmlib.train.loop"} and graph["hrmlib.train.loop"] == {"hrmlib.model.hrm"}
        for test in (test_imports_follow_the_data_flow, test_no_import_cycle):
            try:
                test()
            except AssertionError:
                continue
            raise AssertionError(f"{test.__name__} passed on a package that breaks it")
    finally:
        PKG, ROOT = old


def test_model_code_knows_nothing_of_devices_ranks_or_files():
    for f in (PKG / "model").glob("*.py"):
        src = f.read_text()
        mods = {a.name for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Import) for a in n.names}
        mods |= {n.module or "" for n in ast.walk(ast.parse(src)) if isinstance(n, ast.ImportFrom)}
        assert not mods & {"os", "pathlib", "torch.distributed", "json"}, (f.name, mods)
        for word in (".cuda(", "torch.distributed", "open(", "get_rank"):
            assert word not in src, (f.name, word)


def test_no_module_over_about_400_lines():
    big = {f.relative_to(ROOT).as_posix(): n for f in PKG.rglob("*.py") if (n := len(f.read_text().splitlines())) > 420}
    assert not big, big


def test_the_training_loop_reads_top_to_bottom():
    src = (PKG / "train" / "loop.py").read_text()
    assert len(src.splitlines()) <= 200
    long = [f"{f.name}: {f.end_lineno - f.lineno + 1} lines" for f in ast.walk(ast.parse(src))
            if isinstance(f, ast.FunctionDef) and f.end_lineno - f.lineno + 1 > 60]
    assert not long, long


# Each concept is written once: the files where its pattern may appear.
ONE_PLACE = {
    "reading a checkpoint file": (r"torch\.load\(", {"runs/checkpoints.py", "parity.py"}),  # parity: fixture tensors
    "a checkpoint's weights into a model": (r"load_checked\(", {"runs/source.py", "train/step.py"}),
    "the ACT rollout": (r"def rollout\(|\.rollout\(", {"model/act.py", "train/evaluation.py", "look/trace.py",
                                                      "bench.py", "parity.py", "train/live.py"}),
    "the exploration draw": (r"torch\.randint\(2,|torch\.rand\(", {"model/act.py"}),
    "the key=value split": (r'split\("=", 1\)|partition\("="\)', {"grammar.py"}),
    "the ignored label": (r"^IGNORE = ", {"data/sampler.py"}),
}


@pytest.mark.parametrize("concept", ONE_PLACE)
def test_each_concept_is_written_once(concept):
    pattern, allowed = ONE_PLACE[concept]
    found = {f.relative_to(PKG).as_posix() for f in PKG.rglob("*.py") if re.search(pattern, f.read_text(), re.M)}
    assert found <= allowed, found - allowed
    assert len([f for f in found if re.search(pattern.split("|")[0], (PKG / f).read_text(), re.M)]) >= 1
