"""Released checkpoints by hf: name, offline: names parse one way, resolve reads a Hugging Face cache
laid out as huggingface_hub writes it (tests/hub_cache.py) for HRM and TRM, any revision and step,
the model equals the committed fixture loaded directly, and each problem is one clear line."""
import json

import pytest
import torch

from hrmlib import runs
from hrmlib.compat import to_ours
from hrmlib.runs.hub import GRAMMAR, HubError, Spec, parse, resolve
from conftest import FIXTURES
from hub_cache import DIMS, HRM, HRM_REPO, TRM, TRM_FOLDER, TRM_REPO

HF_HRM, HF_TRM = f"hf:{HRM_REPO}", f"hf:{TRM_REPO}/{TRM_FOLDER}"


@pytest.mark.parametrize("name, spec", [
    ("hf:sapientinc/HRM-checkpoint-sudoku-extreme", Spec("sapientinc/HRM-checkpoint-sudoku-extreme")),
    ("hf:arcprize/trm_arc_prize_verification/arc_v1_public@step_518071",
     Spec("arcprize/trm_arc_prize_verification", "arc_v1_public", None, 518071)),
    ("hf:arcprize/trm_arc_prize_verification/arc_v1_public/step_518071",
     Spec("arcprize/trm_arc_prize_verification", "arc_v1_public", None, 518071)),
    ("hf:org/name@v2", Spec("org/name", "", "v2")),
    ("hf:org/name/a/b@" + "a" * 40 + "@step_7", Spec("org/name", "a/b", "a" * 40, 7)),
])
def test_names_parse_one_way(name, spec):
    assert parse(name) == spec and parse(str(spec)) == spec


@pytest.mark.parametrize("name", ["sapientinc/x", "hf:org", "hf:org//x", "hf:org/x@", "hf:org/x@step_1@main",
                                  "hf:org/x@a@b@c", "hf:org/x/step_3@step_3"])
def test_bad_names_are_one_line(name):
    with pytest.raises(HubError) as e:
        parse(name)
    assert "\n" not in str(e.value) and ("twice" in str(e.value) or GRAMMAR in str(e.value))


def _rollout(model, fixture):
    """The fixture's eval rollout (every segment's logits and Q values) on its batch."""
    batch = torch.load(FIXTURES / fixture / "batch.pt", weights_only=True)
    with torch.inference_mode():
        return torch.stack([torch.cat([o["logits"].flatten(), o["q_halt_logits"], o["q_continue_logits"]])
                            for _, o in model.rollout(batch)])


@pytest.mark.parametrize("name, fixture, commit, step, steps", [(HF_HRM, "hrm-reference", HRM[1], 20, (10, 20)),
                                                                (HF_TRM, "trm-reference", TRM[1], 7, (3, 7))])
def test_resolves_offline_and_loads_the_fixture_weights(hf_offline, capsys, name, fixture, commit, step, steps):
    r = resolve(name)
    assert (r.commit, r.step, r.steps, r.chosen) == (commit, step, steps, True)
    assert r.file.parent == r.config.parent and r.config.name == "all_config.yaml"
    assert r.file.is_relative_to(hf_offline.cache / f"models--{r.repo.replace('/', '--')}" / "snapshots" / commit)
    assert r.size == r.file.stat().st_size > 0 and r.pinned == f"{name}@{commit}@step_{step}"
    assert f"step_{step}, the newest of 2" in capsys.readouterr().out
    hub = runs.open(name).model  # its all_config.yaml names the dataset, which gives the sizes
    direct = runs.open(FIXTURES / fixture / "state_dict.compiled.pt", config=FIXTURES / fixture / "config.json").model
    assert type(hub) is type(direct) and hub.cfg.loss == direct.cfg.loss
    assert torch.equal(_rollout(hub, fixture), _rollout(direct, fixture))
    # and those are the original's numbers (the fixture's eval rollout, last segment)
    ref = torch.load(FIXTURES / fixture / "eval_rollout.pt", weights_only=True)["steps"][-1]["logits"]
    torch.testing.assert_close(_rollout(hub, fixture)[-1][:ref.numel()].view_as(ref), ref, rtol=1e-4, atol=2e-4)


@pytest.mark.parametrize("name, commit, step", [
    (f"{HF_HRM}@step_10", HRM[1], 10),  # an explicit step on main
    (f"{HF_HRM}@v1", HRM[0], 10),  # a second revision by its tag…
    (f"{HF_HRM}@{HRM[0]}", HRM[0], 10),  # …and by its commit
    (f"{HF_TRM}@v1@step_3", TRM[0], 3),
    (f"hf:{TRM_REPO}/{TRM_FOLDER}/step_3", TRM[1], 3),
])
def test_other_revisions_and_steps(hf_offline, name, commit, step):
    r = resolve(name, quiet=True)
    assert (r.commit, r.step, r.chosen) == (commit, step, "step_" not in name) and r.file.name == f"step_{step}"
    fixture = "hrm-reference" if "HRM" in name else "trm-reference"
    m = runs.open(name).model
    init = torch.load(FIXTURES / fixture / "init_state_dict.compiled.pt", weights_only=True)  # step_10 / step_3
    assert all(torch.equal(m.state_dict()[k], v) for k, v in to_ours(init, m.family).items())


@pytest.mark.parametrize("name, expect", [
    ("hf:fixture-org/not-there", "is not in the Hugging Face cache"),
    (f"{HF_HRM}@step_15", "no step_15 in the cache (commit e8de5b20); there: step_10, step_20"),
    (f"{HF_HRM}@v9", "revision 'v9' is not in the cache (HF_HUB_OFFLINE=1); cached: main e8de5b20, v1 9e4a3d2a"),
    (f"hf:{TRM_REPO}", "no step_N checkpoint in the repository root in the cache; folders that hold some: tiny_public, "
                       f"e.g. hf:{TRM_REPO}/tiny_public"),
])
def test_each_problem_is_one_line(hf_offline, name, expect):
    with pytest.raises(HubError) as e:
        resolve(name, quiet=True)
    assert expect in str(e.value) and "\n" not in str(e.value)


def test_no_all_config_yaml_is_one_line(hf_offline, tmp_path):
    from hub_cache import add_repo
    add_repo(tmp_path, "fixture-org/bare", [(("c" * 40, "main"), {"step_5": b"x", "notes.txt": b"y"})])
    with pytest.raises(HubError, match=r"no all_config.yaml beside step_5 in the cache.*there: notes.txt, step_5"):
        resolve("hf:fixture-org/bare", cache_dir=tmp_path, quiet=True)


def test_an_unreachable_hub_falls_back_to_the_cache(hf_offline, monkeypatch, capsys):
    """Online mode with no network (a closed local port as the endpoint): the cache is read, with a warning."""
    import huggingface_hub.constants as c
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(c, "ENDPOINT", "http://127.0.0.1:9")
    r = resolve(HF_HRM)
    assert r.step == 20 and "cannot be reached" in capsys.readouterr().out
    with pytest.raises(HubError, match="not in the Hugging Face cache .* and the Hub cannot be reached"):
        resolve("hf:fixture-org/not-there", quiet=True)


def test_the_cache_is_what_huggingface_hub_reads(hf_offline):
    """The fixture's layout, read back by huggingface_hub's own cache scanner and downloader."""
    from huggingface_hub import hf_hub_download, scan_cache_dir
    info = scan_cache_dir(hf_offline.cache)
    assert not info.warnings and {r.repo_id for r in info.repos} == {HRM_REPO, TRM_REPO}
    p = hf_hub_download(TRM_REPO, "all_config.yaml", subfolder=TRM_FOLDER, revision="v1")
    assert TRM[0] in p and "TinyRecursiveReasoningModel_ACTV1" in open(p).read()
    meta = json.loads((hf_offline.data["hrm"] / "test" / "dataset.json").read_text())
    assert meta["vocab_size"] == DIMS["vocab_size"]
