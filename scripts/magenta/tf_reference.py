"""Build magenta's own MusicVAE graphs at tiny sizes, save their TF checkpoints and reference outputs.

Place in the flow: runs in the side environment ``.tf-venv`` (``make tf-venv``: tensorflow-cpu,
tf-slim, tensorflow-probability, magenta and note_seq installed with ``--no-deps``), never in the
project's environment. ``make test-magenta`` runs it, then ``tests/magenta_parity`` imports each
checkpoint with ``musicvae import-magenta`` and compares our model's outputs with these.

For every supported config this takes magenta's real ``configs.CONFIG_MAP[name]`` (its model
object and data converter), shrinks the hparams (rnn sizes, z) keeping every layer count and
the level lengths, builds the graph with ``MusicVAE.build``, fills every variable with random
values (large enough that the decoders' logits are well separated), and writes

* ``OUT/NAME/model.ckpt.{index,data-00000-of-00001}`` - the TF checkpoint (``tf.train.Saver``);
* ``OUT/NAME/reference.npz`` - encoder inputs (tokens), mu, sigma, the z fed to the decoder,
  teacher-forced logits, greedy (temperature 1e-6) sampled tokens, and every variable as TF's
  own reader (``tf.train.load_checkpoint``) returns it (``var/NAME`` entries), to test our reader.

magenta's package ``__init__`` imports note_seq's audio and plotting stack (librosa, bokeh,
pandas...); those modules are replaced by empty stand-ins here: the configs and the model code
never call them.

``--published`` keeps magenta's own sizes (e.g. 176M parameters for hierdec-mel_16bar) and writes
only digests of the variables; ``--fixture`` uses even smaller sizes for committed fixtures.

Usage: ``.tf-venv/bin/python scripts/magenta/tf_reference.py [--fixture | --published] OUT [NAME ...]``
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import types

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tf.compat.v1 RNN cells need tf_keras under TF 2.16+
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_STUBBED = {"librosa", "pretty_midi", "mido", "bokeh", "IPython", "pandas", "scipy", "intervaltree", "pydub",
            "soundfile", "tensorflow_datasets", "sox", "matplotlib"}


class _Anything(types.ModuleType):
    """A module whose every attribute is another stand-in (for imports that are never used)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Anything(f"{self.__name__}.{name}")

    def __call__(self, *args, **kwargs):
        return _Anything("call")

    def __mro_entries__(self, bases):
        return (object,)


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in _STUBBED:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _Anything(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


def load_magenta():
    """magenta's ``configs`` and ``lstm_models`` without running ``magenta/__init__`` (it imports everything)."""
    sys.meta_path.insert(0, _StubFinder())
    root = os.path.dirname(importlib.util.find_spec("magenta").origin)
    for name, sub in (("magenta", ""), ("magenta.models", "models")):
        module = types.ModuleType(name)
        module.__path__ = [os.path.join(root, sub)]
        sys.modules[name] = module
    from magenta.models.music_vae import configs

    return configs


SUPPORTED = ["cat-mel_2bar_small", "cat-mel_2bar_big", "cat-drums_2bar_small", "cat-drums_2bar_big",
             "flat-mel_16bar", "hierdec-mel_16bar", "flat-trio_16bar", "hierdec-trio_16bar"]
ENC, DEC, Z, BATCH = 12, 10, 6, 3  # tiny sizes: all different, so a transposed mapping cannot pass
FIXTURE = dict(ENC=4, DEC=3, Z=2, BATCH=2)  # --fixture: checkpoints small enough to commit (tests/fixtures/magenta)
FIXTURE_LOGITS = 3072  # --fixture keeps the logits of the first steps only (at most 32, about 3072 values a row)


def tiny_hparams(config, published=False):
    hp = config.hparams
    values = dict(hp.values())
    if not published:
        values.update(enc_rnn_size=[ENC] * len(hp.enc_rnn_size), dec_rnn_size=[DEC] * len(hp.dec_rnn_size),
                      z_size=Z)
    values.update(batch_size=BATCH, sampling_schedule="constant", sampling_rate=0.0, dropout_keep_prob=1.0)
    from magenta.contrib import training as contrib_training

    return contrib_training.HParams(**values)


def contrib_training_hparams(hp, **changes):
    from magenta.contrib import training as contrib_training

    values = dict(hp.values())
    values.update(changes)
    return contrib_training.HParams(**values)


def random_tokens(rng, converter, steps):
    """Per-stream token ids (B, T, K) over the converter's output streams."""
    import numpy as np

    depths = list(getattr(converter, "_split_output_depths", None) or [converter.output_depth])
    return np.stack([rng.integers(0, d, size=(BATCH, steps)) for d in depths], axis=-1), depths


def encoder_input(tokens, depths, converter):
    """What magenta's converter feeds the encoder: concatenated one-hots, or a drum roll (+ 'no hit' flag)."""
    import numpy as np

    if converter.input_depth == sum(depths):
        return np.concatenate([np.eye(d, dtype=np.float32)[tokens[..., k]] for k, d in enumerate(depths)], -1)
    classes = converter.input_depth - 1  # roll input: one column per drum class + "no drums"
    bits = ((tokens[..., 0:1] >> np.arange(classes)) & 1).astype(np.float32)
    return np.concatenate([bits, (bits.sum(-1, keepdims=True) == 0).astype(np.float32)], -1)


def build_one(configs, name, out_dir, seed, fixture=False, published=False):
    import numpy as np
    import tensorflow.compat.v1 as tf

    tf.disable_v2_behavior()
    config = configs.CONFIG_MAP[name]
    hp = tiny_hparams(config, published)
    converter = config.data_converter
    steps = hp.max_seq_len
    rng = np.random.default_rng(seed)
    tokens, depths = random_tokens(rng, converter, steps)
    enc_in = encoder_input(tokens, depths, converter)
    out_onehot = np.concatenate([np.eye(d, dtype=np.float32)[tokens[..., k]] for k, d in enumerate(depths)], -1)
    z_feed = rng.normal(size=(BATCH, hp.z_size)).astype(np.float32)

    graph = tf.Graph()
    with graph.as_default():
        model = config.model
        model.build(hp, converter.output_depth, is_training=False)
        core = getattr(model.decoder, "_core_decoder", None)
        if core is not None and hasattr(core, "_core_decoders"):
            # SplitMultiOutLstmDecoder under a hierarchical decoder asserts that each segment is
            # max_seq_len long (magenta 2.1.4); give it the segment length it actually decodes
            seg = contrib_training_hparams(hp, max_seq_len=model.decoder._level_lengths[-1])
            core.hparams = seg
        seq = tf.constant(enc_in)
        lengths = tf.constant([steps] * BATCH, dtype=tf.int32)
        dist = model.encode(seq, lengths)
        mu, sigma = dist.loc, dist.stddev()
        target = tf.constant(out_onehot)
        x_input = tf.pad(target[:, :-1], [(0, 0), (1, 0), (0, 0)])
        z_ph = tf.placeholder(tf.float32, [BATCH, hp.z_size])
        _, _, results = model.decoder.reconstruction_loss(x_input, target, lengths, z=z_ph)
        logits = results.rnn_output
        with tf.variable_scope(tf.get_variable_scope(), reuse=True):  # the same weights, sampling graph
            samples, _ = model.decoder.sample(BATCH, max_length=steps, z=z_ph, temperature=1e-6)
        variables = tf.global_variables()
        saver = tf.train.Saver(variables)
        with tf.Session(graph=graph) as sess:
            sess.run(tf.global_variables_initializer())
            for v in variables:  # fed, not baked into the graph (published sizes exceed a GraphDef's 2 GB)
                if v.dtype.base_dtype != tf.float32:
                    continue
                shape = v.shape.as_list()
                # tiny: large weights (well separated logits); published sizes: 2 / sqrt(fan-in)
                scale = (2.0 / np.sqrt(shape[0]) if published else 0.6) if len(shape) == 2 else 0.3
                v.load(rng.normal(scale=scale, size=shape).astype(np.float32), sess)
            mu_v, sigma_v = sess.run([mu, sigma])
            logits_v, samples_v = sess.run([logits, samples], {z_ph: z_feed})
            os.makedirs(out_dir, exist_ok=True)
            prefix = saver.save(sess, os.path.join(out_dir, "model.ckpt"), write_meta_graph=False)
    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    ref = {f"var/{k}": reader.get_tensor(k) for k in shapes}
    sample_tokens = np.stack([part.argmax(-1) for part in np.split(samples_v, np.cumsum(depths)[:-1], axis=-1)], -1)
    if fixture:  # small: no copies of the variables, only their digests; the first steps' logits
        np.savez_compressed(os.path.join(out_dir, "reference.npz"), tokens=tokens.astype(np.int16), mu=mu_v,
                            sigma=sigma_v, z=z_feed, logits=logits_v[:, :max(1, min(32, FIXTURE_LOGITS // logits_v.shape[-1]))],
                            sample_tokens=sample_tokens.astype(np.int16))
    elif published:
        np.savez(os.path.join(out_dir, "reference.npz"), tokens=tokens, mu=mu_v, sigma=sigma_v, z=z_feed,
                 logits=logits_v, sample_tokens=sample_tokens)
    else:
        np.savez(os.path.join(out_dir, "reference.npz"), tokens=tokens, mu=mu_v, sigma=sigma_v, z=z_feed,
                 logits=logits_v, sample_tokens=sample_tokens, **ref)
    digests = {k[4:]: {"shape": list(v.shape), "dtype": str(v.dtype),
                       "sha256": hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()}
               for k, v in sorted(ref.items())}
    with open(os.path.join(out_dir, "variables.json"), "w") as f:
        json.dump(digests, f, indent=1)
    for extra in ("checkpoint",):  # TF's state file names an absolute path: not needed
        if fixture and os.path.exists(os.path.join(out_dir, extra)):
            os.remove(os.path.join(out_dir, extra))
    return prefix


def main(argv):
    global ENC, DEC, Z, BATCH
    fixture, published = "--fixture" in argv, "--published" in argv
    argv = [a for a in argv if a not in ("--fixture", "--published")]
    if not argv:
        print(__doc__.strip().splitlines()[-1])
        return 2
    if fixture:
        ENC, DEC, Z, BATCH = FIXTURE["ENC"], FIXTURE["DEC"], FIXTURE["Z"], FIXTURE["BATCH"]
    if published:
        BATCH = 2
    out, names = argv[0], argv[1:] or SUPPORTED
    configs = load_magenta()
    for i, name in enumerate(names):
        prefix = build_one(configs, name, os.path.join(out, name), seed=i, fixture=fixture, published=published)
        print(f"{name}: {prefix}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
