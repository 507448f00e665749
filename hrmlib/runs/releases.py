"""The released HRM and TRM checkpoints known here, and the dataset each needs (the README's "Start
from a released model" shows this table, `markdown()`; a test keeps the two equal).

Names are as on the Hugging Face Hub; sizes and scores are as published (HRM: arXiv 2506.21734
Fig. 1; TRM: arXiv 2510.04871 and its README; docs/releases.md says what is known of each) — none
was downloaded or measured here. A score is the paper's for that model and task, not a measurement
of the file.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Release:
    name: str  # hf:<org>/<name>[/<subfolder>] (hrmlib.runs.hub)
    family: str  # HRM | TRM
    task: str
    data: str  # the dataset directory its all_config.yaml names (the original's)
    build: str  # how to build a dataset that fits (hrmlib's command, or what it needs)
    step: str  # the checkpoint file, where known
    size: str  # as published, or what follows from the parameter count
    params: int | None  # trainable parameters without the puzzle table (as the papers count them)
    score: str  # published for that model and task, with where it comes from
    exact_ids: bool = False  # the puzzle table indexes one particular build's identifiers.json (ARC)


_SUDOKU = ("python -m hrmlib.data sudoku --output-dir data/sudoku-extreme-1k-aug-1000 "
           "--source hf:sapientinc/sudoku-extreme --subsample-size 1000 --num-aug 1000")
_MAZE = "python -m hrmlib.data maze --output-dir data/maze-30x30-hard-1k --source hf:sapientinc/maze-30x30-hard-1k"
_ARC1 = ("python -m hrmlib.data arc --output-dir data/arc1concept-aug-1000 "
         "--dataset-dirs ARC-AGI/data ConceptARC/corpus --num-aug 1000")
_ARC2 = ("python -m hrmlib.data arc --output-dir data/arc2concept-aug-1000 "
         "--dataset-dirs ARC-AGI-2/data ConceptARC/corpus --num-aug 1000")
_COMMUNITY = "community weights: files, size and score not known here"

RELEASES = (
    Release("hf:sapientinc/HRM-checkpoint-sudoku-extreme", "HRM", "Sudoku-Extreme (1k)",
            "data/sudoku-extreme-1k-aug-1000", _SUDOKU, "newest step_N", "≈109 MB (27.3 M fp32 weights)", 27_275_266,
            "55.0 % exact (HRM paper, Fig. 1)"),
    Release("hf:sapientinc/HRM-checkpoint-maze-30x30-hard", "HRM", "Maze-Hard 30×30 (1k)", "data/maze-30x30-hard-1k",
            _MAZE, "newest step_N", "≈109 MB (27.3 M fp32 weights)", 27_270_146, "74.5 % exact (HRM paper, Fig. 1)"),
    Release("hf:sapientinc/HRM-checkpoint-ARC-2", "HRM", "ARC-AGI-2", "data/arc-2-aug-1000",
            "python -m hrmlib.data arc --output-dir data/arc-2-aug-1000 --dataset-dirs ARC-AGI-2/data --num-aug 1000",
            "newest step_N", "not listed (weights ≈109 MB + the puzzle table)", 27_276_290,
            "5.0 % pass@2 (HRM paper, Fig. 1)", exact_ids=True),
    Release("hf:arcprize/trm_arc_prize_verification/arc_v1_public", "TRM", "ARC-AGI-1 + ConceptARC",
            "data/arc1concept-aug-1000", _ARC1, "step_518071", "1.8 GB (most of it the puzzle table)", 6_829_058,
            "44.6 % pass@2 (TRM paper; README “45 %”)", exact_ids=True),
    Release("hf:arcprize/trm_arc_prize_verification/arc_v2_public", "TRM", "ARC-AGI-2 + ConceptARC",
            "data/arc2concept-aug-1000", _ARC2, "step_723914", "2.5 GB (most of it the puzzle table)", 6_829_058,
            "7.8 % pass@2 (TRM paper; README “8 %”)", exact_ids=True),
    Release("hf:Sanjin2024/TinyRecursiveModels-Sudoku-Extreme-mlp", "TRM", "Sudoku-Extreme (1k), MLP",
            "data/sudoku-extreme-1k-aug-1000", _SUDOKU, "newest step_N", "–", 5_028_866,
            f"{_COMMUNITY}; the paper's for this setup: 87.4 %"),
    Release("hf:Sanjin2024/TinyRecursiveModels-Sudoku-Extreme-att", "TRM", "Sudoku-Extreme (1k), attention",
            "data/sudoku-extreme-1k-aug-1000", _SUDOKU, "newest step_N", "–", 6_828_034,
            f"{_COMMUNITY}; the paper's for this setup: 74.7 %"),
    Release("hf:Sanjin2024/TinyRecursiveModels-ARC-AGI-1", "TRM", "ARC-AGI-1 + ConceptARC", "data/arc1concept-aug-1000",
            _ARC1, "newest step_N", "–", 6_829_058, f"{_COMMUNITY}; the paper's for this setup: 44.6 %",
            exact_ids=True),
    Release("hf:Sanjin2024/TinyRecursiveModels-ARC-AGI-2", "TRM", "ARC-AGI-2 + ConceptARC", "data/arc2concept-aug-1000",
            _ARC2, "newest step_N", "–", 6_829_058, f"{_COMMUNITY}; the paper's for this setup: 7.8 %", exact_ids=True),
    Release("hf:Sanjin2024/TinyRecursiveModel-Maze-Hard", "TRM", "Maze-Hard 30×30 (1k)", "data/maze-30x30-hard-1k",
            _MAZE, "newest step_N", "–", 6_822_914, f"{_COMMUNITY}; the paper's for this setup: 85.3 %"),
)


def find(name: str) -> Release | None:
    """The known release an hf: name (any revision or step) points into, if any."""
    from .hub import Spec, parse
    s = parse(name) if isinstance(name, str) else name
    base = str(Spec(s.repo, s.subfolder))
    return next((r for r in RELEASES if r.name == base), None)


def markdown() -> str:
    """The table docs/releases.md shows."""
    rows = ["| name | family | task | dataset it needs | build it with | file | size | published |",
            "|---|---|---|---|---|---|---|---|"]
    rows += [f"| `{r.name}` | {r.family} | {r.task} | `{r.data}`{' (exact build)' if r.exact_ids else ''} | "
             f"`{r.build}` | {r.step} | {r.size} | {r.score} |" for r in RELEASES]
    return "\n".join(rows)
