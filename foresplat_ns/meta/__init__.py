"""Meta-training: the inner refinement loop, the meta step of each mode, and the IFT solver."""
