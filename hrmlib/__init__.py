"""hrm-workbench: HRM and TRM — data, models, training, evaluation, and looking inside.

Along the data flow: config → data → model → train → runs → look (README, "Where things are")."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the project: relative data and run paths are from here
