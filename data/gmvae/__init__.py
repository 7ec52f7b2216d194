"""Data for Meta-GMVAE: Omniglot arrays, miniImageNet features, SimCLR images."""
