"""pyproject.toml and environment.yml must list the same dependencies."""
import re
import tomllib

from conftest import ROOT

CONDA_NAMES = {"pytorch": "torch"}  # conda-forge name → PyPI name


def _name(spec: str) -> str:
    return re.split(r"[<>=!~\[ ;]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _env_yml() -> set[str]:
    names = set()
    text = (ROOT / "environment.yml").read_text()
    deps = text.split("dependencies:", 1)[1]  # skip the channels list
    for line in deps.splitlines():
        s = line.split("#", 1)[0].rstrip()
        if not s.strip().startswith("- "):
            continue
        item = s.strip()[2:].strip()
        if item in ("pip", "pip:"):
            continue
        n = _name(item)
        if n != "python":
            names.add(CONDA_NAMES.get(n, n))
    return names


def test_environment_yml_matches_pyproject():
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = {_name(d) for d in proj["dependencies"]} | {_name(d) for d in proj["optional-dependencies"]["dev"]}
    env = _env_yml()
    assert deps - env == set(), f"in pyproject.toml but not environment.yml: {sorted(deps - env)}"
    assert env - deps == set(), f"in environment.yml but not pyproject.toml: {sorted(env - deps)}"
    assert "flash-attn" in {_name(d) for d in proj["optional-dependencies"]["gpu"]}
