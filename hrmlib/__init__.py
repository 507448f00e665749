"""hrm-workbench: HRM and TRM — data, models, training, evaluation, and looking inside.

Along the data flow: base (config, grammar, errors, paths, dist) → data → model → compat → runs → train
→ look → tools (README, "Where things are"). Runs and datasets live under `hrmlib.paths.home()`.
"""
