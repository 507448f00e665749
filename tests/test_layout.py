"""The package's shape, read from its source: modules import only along the data flow
config → data → model → train → runs → look (every import, also those inside functions), no cycle,
model code knows nothing of devices, ranks or files, and no module grows past ~400 lines."""
import ast
from pathlib import Path

from conftest import ROOT

PKG = ROOT / "hrmlib"
# (importer's layer, layers it must not import), from the README's "Where things are"
FORBIDDEN = {
    "base": {"data", "model", "compat", "train", "runs", "look", "launch", "tools"},
    "data": {"model", "compat", "train", "runs", "look", "launch", "tools"},
    "model": {"data", "compat", "train", "runs", "look", "launch", "tools"},
    "compat": {"runs", "look", "launch", "tools"},
    "train": {"look", "launch", "tools"},
    "runs": {"train", "look", "launch", "tools"},
    "look": {"launch", "tools"},
}


def layer(mod: str) -> str:
    part = mod.split(".")[1] if "." in mod else ""
    return {"config": "base", "grammar": "base", "dist": "base", "data": "data", "model": "model", "compat": "compat", "train": "train",
            "runs": "runs", "look": "look", "launch": "launch"}.get(part, "tools")


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
           for d in deps if layer(d) in FORBIDDEN.get(layer(m), set())]
    assert not bad, "\n".join(bad)


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


def test_the_renamed_inspect_module_points_to_its_new_name():
    import importlib
    import pytest
    with pytest.raises(ImportError, match="hrmlib.inspect is now hrmlib.look.trace"):
        importlib.import_module("hrmlib.inspect")
