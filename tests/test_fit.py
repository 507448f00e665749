"""A checkpoint checked against a dataset before use: its puzzle table, vocabulary and (where the
weights fix it) sequence length; a mismatch is one line naming the build it expects. Parameter counts
with and without the puzzle table, and the table of known releases the docs show."""
import pytest
import torch

from hrmlib.compat import arch_from_original, read_config, to_original
from hrmlib.config import ArchConfig
from hrmlib.errors import UserError
from hrmlib.model import build
from hrmlib.runs import data_dims, releases
from hrmlib.runs.fit import FitError, check_fit, param_counts, read_shapes, trained_dims
from conftest import FIXTURES, ROOT
from hub_cache import DIMS, fixture_dataset

FX = {f: FIXTURES / f"{f}-reference" for f in ("hrm", "trm")}


def _fixture(family):
    arch, _ = arch_from_original(read_config(FX[family] / "config.json"))
    return read_shapes(FX[family] / "state_dict.compiled.pt"), arch


@pytest.mark.parametrize("family, params", [("hrm", 263_170), ("trm", 57_858)])  # the fixture READMEs' counts
def test_the_fixtures_fit_their_data_and_are_counted(tmp_path, family, params):
    shapes, arch = _fixture(family)
    d = fixture_dataset(tmp_path / "d", f"{family}-reference")
    fit = check_fit(shapes, arch, data_dims(d), d)
    table = 5 * arch.emb_ndim
    assert (fit.params, fit.table) == (params, table) == param_counts(shapes, arch.name)
    assert f"{params:,} parameters ({params + table:,} with the puzzle table)" in str(fit)
    eager = torch.load(FX[family] / "state_dict.eager.pt", weights_only=True)  # the other key form, tensors
    assert param_counts(eager, arch.name) == (params, table)


@pytest.mark.parametrize("change, says", [
    ({"num_puzzle_identifiers": 6},
     "trained on a dataset with 5 puzzle ids; {d} has 6: use the dataset it was trained on"),
    ({"num_puzzle_identifiers": 4}, "trained on a dataset with 5 puzzle ids; {d} has 4"),
    ({"vocab_size": 8}, "trained on a dataset with 7 tokens in its vocabulary; {d} has 8"),
])
@pytest.mark.parametrize("family", ["hrm", "trm"])
def test_another_build_is_one_line(tmp_path, family, change, says):
    shapes, arch = _fixture(family)
    d = fixture_dataset(tmp_path / "d", f"{family}-reference", change)
    with pytest.raises(FitError) as e:
        check_fit(shapes, arch, data_dims(d), d)
    assert says.format(d=d) in str(e.value) and "\n" not in str(e.value) and isinstance(e.value, UserError)


@pytest.mark.parametrize("kw", [dict(name="trm", mlp_t=True, pos_encodings="none", puzzle_emb_len=2),
                                dict(name="hrm", pos_encodings="learned")])
def test_sequence_length_where_the_weights_fix_it(tmp_path, kw):
    """TRM's token-mixing MLP and learned positions are sized by the sequence; RoPE is not."""
    arch = ArchConfig(hidden_size=32, num_heads=4, H_layers=1, L_layers=1, **kw)
    sd = to_original(build(arch, DIMS).state_dict(), compiled=True, family=arch.name)
    assert trained_dims(sd, arch) == DIMS
    with pytest.raises(FitError, match=r"with 16 tokens per puzzle; .* has 20"):
        check_fit(sd, arch, {**DIMS, "seq_len": 20}, "data/longer")
    rope, arch = _fixture("hrm")
    assert check_fit(rope, arch, {**DIMS, "seq_len": 20}).seq_len == 20


def test_a_known_release_names_its_build(tmp_path):
    shapes, arch = _fixture("hrm")
    d = fixture_dataset(tmp_path / "d", "hrm-reference", {"num_puzzle_identifiers": 6})
    with pytest.raises(FitError) as e:
        check_fit(shapes, arch, data_dims(d), d, release="hf:sapientinc/HRM-checkpoint-ARC-2@step_1",
                  where="hf:sapientinc/HRM-checkpoint-ARC-2")
    msg = str(e.value)
    assert msg.startswith("hf:sapientinc/HRM-checkpoint-ARC-2 was trained on a dataset with 5 puzzle ids")
    assert ("it needs data/arc-2-aug-1000 (ARC-AGI-2), built with: python -m hrmlib.data arc "
            "--output-dir data/arc-2-aug-1000") in msg
    assert "exact build's identifiers.json" in msg


def test_shapes_of_an_hrmlib_checkpoint_and_of_a_file(tmp_path):
    shapes, _ = _fixture("trm")
    sd = torch.load(FX["trm"] / "state_dict.eager.pt", weights_only=True)
    torch.save({"model": sd, "config": {"lr": 1.0}}, tmp_path / "state.pt")
    assert read_shapes(tmp_path / "state.pt") == {k: tuple(v.shape) for k, v in sd.items()}
    assert len(shapes) == len(sd) and shapes["_orig_mod.model.inner.puzzle_emb.weights"] == (5, 32)
    with pytest.raises(FitError, match="not an HRM/TRM state dict"):
        trained_dims({"a.weight": (3, 3)}, ArchConfig())


def test_releases_table_is_the_docs_table():
    assert releases.markdown() in (ROOT / "README.md").read_text()  # "Start from a released model"
    r = releases.find("hf:arcprize/trm_arc_prize_verification/arc_v1_public@step_518071")
    assert r.step == "step_518071" and r.family == "TRM" and r.exact_ids
    assert releases.find("hf:someone/else") is None
    assert len({r.name for r in releases.RELEASES}) == len(releases.RELEASES)
