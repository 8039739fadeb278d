"""musicvae.evaluation (see the package docstring for the flow)."""
