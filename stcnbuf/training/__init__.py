"""Training: the Lightning module, the loss, callbacks, and the quickstart report."""
