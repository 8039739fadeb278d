"""musicvae.cli (see the package docstring for the flow)."""
