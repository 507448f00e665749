"""Training: the loop (`python -m hrmlib.train`), evaluation, optimizers, EMA, ARC voting."""
