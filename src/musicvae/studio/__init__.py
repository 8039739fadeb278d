"""The studio: a local web page to make music with the models (``musicvae studio``).

Place in the flow: ``generation`` (TrainedModel, the MCVAE composer) + ``render`` -> ``studio``
(:mod:`.session`: the tools on clips held in memory; :mod:`.audio`: streamed WAV; :mod:`.app`:
the Starlette routes; ``static/``: the page) -> ``cli/studio.py``.
"""
