"""Training loops of the three trainers: above `models/` (math) and `data/`,
called by the entry points; their run lifecycle is `common/`."""
