"""musicvae.models.modules (see the package docstring for the flow)."""
