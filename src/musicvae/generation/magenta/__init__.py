"""magenta's published MusicVAE checkpoints, read without TensorFlow.

Place in the flow: a TF checkpoint -> :mod:`.tf_bundle` (numpy reader) -> :mod:`.mapping`
(magenta variable names -> our modules) -> :mod:`.importer` (a model dir like ``musicvae export``
writes) -> ``generation.TrainedModel`` and every command's ``--model DIR``.
"""
