"""Meta-GMVAE (Lee et al., ICLR 2021) in TensorFlow 2: pure functions over a flat
dict of parameters named by the original PyTorch `state_dict` keys (TF layouts)."""
