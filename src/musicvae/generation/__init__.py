"""musicvae.generation (see the package docstring for the flow)."""
