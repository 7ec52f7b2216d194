"""PNG figures of a run directory (`python -m results.figures RUN_DIR`).

events.py reads the scalars of a run's TensorBoard event files and its
results.jsonl; runs.py tells which trainer wrote a run and finds its
checkpoints; curves.py draws the learning curves every run has; taml.py,
gmvae.py and tdr.py draw the views of one system each; canvas.py holds the
matplotlib set-up (Agg, no display) and writes the files.
"""
