"""musicvae.render (see the package docstring for the flow)."""
