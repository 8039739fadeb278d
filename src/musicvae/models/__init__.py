"""musicvae.models (see the package docstring for the flow)."""
