"""MusicVAE and the LSTM language model in the training loop: :class:`GridFamily` (the ELBO on token grids).

Place in the flow: a prepared folder of token windows (``data.dataset.WindowDataset``) ->
:class:`~.batches.BatchStream` (the one place that transposes) -> :class:`GridFamily` ->
``model.loss`` (``models.musicvae.grid_elbo``) -> ``Trainer.fit``. MusAE reads the same data
(``training.musae_objective.MusAEFamily`` extends this class).

* Step ``s``: its batch, transpositions, latent noise and scheduled-sampling mask are pure
  functions of ``(seed, s)``; learning rate and KL weight follow ``training.schedules``.
* Under ``torchrun`` the model is wrapped in DistributedDataParallel; each rank takes its
  slice of every global batch.
* Evaluation on fixed eval batches spread over the eval split: the held-out ELBO and
  :func:`~.losses.reconstruction_metrics` (teacher-forced, magenta's sampled, free-running
  and argmax accuracy, per stream and per segment).
"""

from __future__ import annotations

import torch
from torch import nn

from ..data.dataset import DatasetError, WindowDataset
from ..models.builders import build_model, count_parameters
from . import schedules
from .batches import BatchStream, spread_batches
from .family import Family, TrainError, step_generator
from .losses import ACCURACY_KINDS, accuracy, reconstruction_metrics


class GridFamily(Family):
    """Token-grid data, a MusicVAE or LM, Adam on the ELBO."""

    def __init__(self, trainer, data_dir):
        super().__init__(trainer, data_dir)
        config, tc, dist = self.config, self.config.train, trainer.dist
        try:
            self.train_set = WindowDataset(data_dir, "train", transpose=None, as_torch=False)
            self.eval_set = WindowDataset(data_dir, "eval", transpose=None, as_torch=False)
        except (DatasetError, FileNotFoundError) as exc:
            raise TrainError(str(exc)) from None
        man = self.manifest = self.train_set.data.manifest
        if man["kind"] != config.data.kind or int(man["bars"]) != config.data.bars:
            hint = f"prepare with --kind {config.data.kind} --bars {config.data.bars}"
            if config.model.family == "musae" and int(man["bars"]) == config.data.bars:
                hint += f", or train MusAE on these tracks with --set data.kind={man['kind']}"
            raise TrainError(
                f"{data_dir}: holds {man['bars']}-bar {man['kind']} windows but preset {config.preset} "
                f"expects {config.data.bars}-bar {config.data.kind} ({hint})"
            )
        if len(self.train_set) == 0:
            raise TrainError(f"{data_dir}: the train split is empty")
        if tc.segment_subset and (config.model.family != "musicvae" or config.model.decoder != "hierarchical"
                                  or tc.segment_subset < 0):
            raise TrainError(f"train.segment_subset={tc.segment_subset}: only a MusicVAE with a hierarchical decoder "
                             f"decodes a subset of its segments (a count from 1 to model.segments; 0 = all)")
        self.vocab_sizes = tuple(int(v) for v in self.train_set.converter.vocab_sizes)
        self.label_names = list(self.train_set.label_names)
        self.setup(data_dir)
        config, tc = self.config, self.config.train  # setup may have adjusted the config
        transpose = (config.data.transpose_low, config.data.transpose_high) if config.data.augment else None
        self.batches = BatchStream(self.train_set, tc.batch_size, seed=tc.seed, transpose=transpose,
                                   rank=dist.rank, world_size=dist.world_size)
        self.batch_size = self.batches.batch_size
        eval_source = self.eval_set if len(self.eval_set) else self.train_set
        # windows spread evenly over the eval split: it is stored by source file, so its first
        # batches would come from a handful of tunes (mel_2bar's card: 0.840 teacher-forced on
        # them, 0.903 on a random sample)
        self.eval_batches, self.eval_label_sets = spread_batches(eval_source, min(tc.batch_size, 256),
                                                                 tc.eval_batches)
        self.model = build_model(config, self.vocab_sizes).to(trainer.device)
        self.ddp_model: nn.Module = self.model
        if dist.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [trainer.device.index] if trainer.device.type == "cuda" else None
            self.ddp_model = DistributedDataParallel(self.model, device_ids=ids)
        self.optimizer = self.make_optimizer()
        self.sampling = schedules.ScheduledSampling(tc.sampling_schedule, tc.sampling_rate, tc.sampling_mode)
        fp16_cuda = tc.precision == "fp16" and trainer.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=fp16_cuda)

    def setup(self, data_dir) -> None:
        """Checks and config changes before the model is built (the MusAE family's hook)."""

    def make_optimizer(self):
        return torch.optim.Adam(self.model.parameters(), lr=self.config.train.learning_rate)

    def generator(self, step: int) -> torch.Generator:
        return step_generator(self.config.train.seed * 131 + self.trainer.dist.rank, step, self.device)

    def train_step(self, step: int) -> dict:
        tc = self.config.train
        self.ddp_model.train()
        tokens = self.batches.batch(step, self.device)  # (b, T, K)
        gen = self.generator(step)
        prob = float(self.sampling.probability(step))
        feed = schedules.sampling_mask(prob, tokens.shape[0], tokens.shape[1], tc.sampling_mode,
                                       generator=gen) if prob > 0 else None
        lr = float(schedules.learning_rate(step, tc.learning_rate, tc.decay_rate, tc.min_learning_rate))
        beta = float(schedules.beta(step, tc.max_beta, tc.beta_rate))
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with self.trainer.autocast():
            extra = {"segment_subset": tc.segment_subset} if tc.segment_subset else {}
            out = self.ddp_model(tokens, feed_sample=feed.to(self.device) if feed is not None else None, generator=gen,
                                 **extra)
            losses = self.model.loss(tokens, out, beta=beta, free_bits=tc.free_bits,
                                     per_dim_free_bits=tc.free_bits_per_dim)
        grad_norm = self.optimise(losses["loss"], self.model.parameters())
        with torch.no_grad():
            acc, _ = accuracy(out["logits"].float(), out.get("targets", tokens), self.vocab_sizes)
        return {**{k: float(losses[k].detach()) for k in ("loss", "r_loss", "kl", "kl_bits")}, "beta": beta,
                "lr": lr, "sampling_prob": prob, "accuracy": float(acc), "grad_norm": float(grad_norm)}

    @torch.no_grad()
    def evaluate(self) -> dict:
        """The held-out ELBO and the four accuracies of ``losses.ACCURACY_KINDS`` on the fixed eval batches."""
        self.model.eval()
        seed, steps = self.config.train.seed + 99, self.model.steps
        seg = getattr(self.model.decoder, "segment_steps", steps)
        m = reconstruction_metrics(self.model, (t.to(self.device) for t in self.eval_batches),
                                   lambda i: step_generator(seed, i, self.device), seg)
        out = {"eval_loss": m["loss"], "eval_r_loss": m["r_loss"], "eval_kl": m["kl"], "eval_kl_bits": m["kl_bits"],
               "eval_elbo": m["elbo"], **{f"{k}_accuracy": m[f"{k}_accuracy"] for k in ACCURACY_KINDS}}
        if len(self.vocab_sizes) > 1:
            names = self.train_set.converter.stream_names
            for key in ("tf", "sampled", "free_running"):
                out[f"{key}_accuracy_per_stream"] = dict(zip(names, m["per_stream"][key].round(4).tolist()))
        if seg != steps:
            for key in ("sampled", "free_running"):
                out[f"{key}_accuracy_per_segment"] = m["per_segment"][key].round(4).tolist()
        return out

    def checkpoint_extra(self) -> dict:
        return {"vocab_sizes": list(self.vocab_sizes), "representation": self.manifest["representation"],
                "parameters": count_parameters(self.model)}

    def progress_line(self, rec: dict) -> tuple[str, bool]:
        if "loss" in rec:
            return (f"loss {rec['loss']:.2f} acc {rec['accuracy']:.3f} kl {rec['kl_bits']:.0f}b "
                    f"{rec['seq_per_s']:.0f} seq/s"), False
        info = (f"eval: tf {rec['tf_accuracy']:.3f} sampled {rec['sampled_accuracy']:.3f} "
                f"free-running {rec.get('free_running_accuracy', float('nan')):.3f}")
        if rec.get("sample_ood_rate") is not None:  # the CLI's sample-realism hook (evaluation.train_realism)
            info += f" samples OOD {100 * rec['sample_ood_rate']:.1f} %"
        return info, True

    def done_line(self, final: dict) -> str:
        return (f"teacher-forced accuracy {final.get('tf_accuracy', 0):.3f}, "
                f"sampled (magenta's definition) {final.get('sampled_accuracy', 0):.3f}, "
                f"free-running {final.get('free_running_accuracy', 0):.3f}")
