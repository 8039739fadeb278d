"""musicvae.training (see the package docstring for the flow)."""
