"""musicvae.data (see the package docstring for the flow)."""
