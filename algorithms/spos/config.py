"""SPOS / RSPS configuration. The defaults ARE RSPS on NB201 as AutoDL-Projects runs it (algorithms.md §6):
`exps/algos/RANDOM-NAS.py` with `configs/nas-benchmark/algos/RANDOM.config`. Departures from that code are named
values of the fields below, recorded with the run; one stays a default, on algorithms.md §6's word: supernet
training re-draws disconnected paths (`reject_disconnected=True`, the GM-NAS / HEP-NAS sampler), where AutoDL's
`random_genotype` does not (`reject_disconnected=False` reproduces it).

What the defaults reproduce, and from where:
* Supernet training (RANDOM.config): 250 epochs, batch 64, SGD lr 0.025 -> 0.001 cosine, momentum 0.9,
  nesterov, wd 5e-4; `search_func` clips the gradient norm at 5. Search network C=16, N=5, affine off
  (`track_running_stats` is a script flag there, recorded here). fp32 (`amp=False`): bf16 autocast is an
  explicit opt-in, because it changes results.
* Data (`data_protocol="nb201_official"`): `get_nas_search_loaders` of the NB201 code. CIFAR-10: the official
  `cifar-split.txt` train / valid halves of the training set (weights / held-out); CIFAR-100 and ImageNet16-120:
  the whole training set for weights, held-out images from the x-valid half of the test split. The harness
  resolves the run's data split from this field (for spos the protocol name is the split name) and the search
  refuses real data split otherwise. "train_half" (the DARTS / GM-NAS index split) is the variant.
* Final selection (`selection="autodl"`): `search_find_best(valid_loader, network, select_num=100)`. Each of
  `num_candidates` architectures is `random_genotype`: every edge's op uniform, drawn WITH replacement across
  candidates (duplicates possible) and WITHOUT connectivity rejection (disconnected cells possible). Each is
  scored (BN per `score_bn_mode`, eval as `network.eval()`) by its top-1 on ONE batch of `select_batch_size`
  un-augmented held-out images (the loader's test batch, 512 for RSPS on NB201, algorithms.md §6): the next
  batch of a shuffled pass over the held-out half (`SubsetRandomSampler`, no drop_last), a new shuffle when a
  pass is exhausted; the first maximum wins (`np.argmax`). "whole_half" is the variant the harness used before:
  `num_candidates` DISTINCT architectures (connectivity rejection per `reject_disconnected`), each scored on the
  whole held-out half (or its first `score_max_images`) in `eval_batch_size` batches.

Evolution settings have NO defaults (§6: "population and mutation settings are not fixed here and must be set
explicitly"); `search="evolution"` scores like "whole_half".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from algorithms.common.config import SupernetConfig, check_eval_fields
from harness.errors import InputError
from harness.train import SGDConfig

__all__ = ["DATA_PROTOCOLS", "SELECTIONS", "Config", "SGDConfig", "SupernetConfig"]

DATA_PROTOCOLS = ("nb201_official", "train_half")
"""nb201_official: AutoDL's NB201 split (default); train_half: the DARTS / GM-NAS index split (variant)."""
SELECTIONS = ("autodl", "whole_half")
"""autodl: AutoDL RANDOM-NAS `search_find_best` (default); whole_half: distinct archs on the whole half (variant)."""


@dataclass(frozen=True)
class Config:
    epochs: int = 250  # RSPS on NB201 (AutoDL RANDOM.config)
    batch_size: int = 64
    # SGD nesterov 0.9, lr 0.025 -> 0.001 cosine, wd 5e-4 (RANDOM.config); grad-clip 5 (RANDOM-NAS search_func)
    weight_opt: SGDConfig = field(
        default_factory=lambda: SGDConfig(
            lr=0.025, lr_min=0.001, momentum=0.9, weight_decay=5e-4, nesterov=True, grad_clip=5.0
        )
    )
    # C=16, N=5, affine off. track_running_stats: an AutoDL script flag; GM-NAS / HEP-NAS rsws: False
    # (algorithms.md §6). Recorded with every run.
    supernet: SupernetConfig = field(
        default_factory=lambda: SupernetConfig(C=16, N=5, affine=False, track_running_stats=True)
    )
    max_steps_per_epoch: int = 0  # 0 = full epochs; >0 caps weight batches per epoch (smoke runs only)
    # "network": one arch shared by all cells (AutoDL random_genotype, GM-NAS/HEP-NAS); "cell": one per cell
    sample_per: str = "network"
    # supernet training (and selection="whole_half", evolution): re-draw disconnected cells (GM-NAS/HEP-NAS
    # sampler). selection="autodl" never rejects.
    reject_disconnected: bool = True
    # The data split the run must use (module docstring): "nb201_official" (AutoDL) | "train_half" (variant)
    data_protocol: str = "nb201_official"
    batch_sampling: str = "epoch"
    amp: bool = False  # opt-in bf16 autocast of training and scoring forwards on the run's device; default fp32
    search: str = "random"  # "random" (RSPS) | "evolution" (SPOS)
    num_candidates: int = 100  # search="random": archs scored (AutoDL RANDOM-NAS --select_num 100)
    # search="random": "autodl" (default; module docstring) | "whole_half" (variant)
    selection: str = "autodl"
    select_batch_size: int = 512  # selection="autodl": held-out images per candidate (AutoDL test batch 512)
    # search="evolution": all four required, no defaults (§6). Each generation keeps the `num_parents` best
    # archs seen so far and mutates them (each edge re-drawn uniformly with prob. mutation_prob) into
    # `population` new, distinct archs; the initial population is uniform random (no crossover).
    # Fitness = held-out single-path top-1 (score_bn_mode) on the whole half, as selection="whole_half".
    population: int | None = None
    generations: int | None = None
    num_parents: int | None = None
    mutation_prob: float | None = None
    # BN mode of every proxy score: "eval" = running statistics (AutoDL network.eval(), §6) | "train"
    score_bn_mode: str = "eval"
    eval_batch_size: int = 512  # whole-half scoring forwards (whole_half, evolution, SupernetScorer)
    score_max_images: int | None = None  # first held-out images a whole-half score sees; None: the whole half

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise InputError("spos epochs and batch_size must be >= 1")
        if self.sample_per not in ("network", "cell"):
            raise InputError(f"spos sample_per={self.sample_per!r}: allowed network, cell")
        if self.data_protocol not in DATA_PROTOCOLS:
            raise InputError(f"spos data_protocol={self.data_protocol!r}: allowed {', '.join(DATA_PROTOCOLS)}")
        if self.batch_sampling not in ("epoch", "fresh_iter"):
            raise InputError(f"spos batch_sampling={self.batch_sampling!r}: allowed epoch, fresh_iter")
        if self.score_bn_mode not in ("eval", "train"):
            raise InputError(f"spos score_bn_mode={self.score_bn_mode!r}: allowed eval, train")
        check_eval_fields("spos", self.eval_batch_size, self.score_max_images, self.max_steps_per_epoch)
        if self.search not in ("random", "evolution"):
            raise InputError(f"spos search={self.search!r}: allowed random, evolution")
        if self.search == "random" and self.num_candidates < 1:
            raise InputError(f"spos num_candidates={self.num_candidates!r}: must be >= 1")
        if self.selection not in SELECTIONS:
            raise InputError(f"spos selection={self.selection!r}: allowed {', '.join(SELECTIONS)}")
        if self.select_batch_size < 1:
            raise InputError(f"spos select_batch_size={self.select_batch_size!r}: must be >= 1")
        if self.search == "evolution":
            self.check_evolution()

    def check_evolution(self) -> None:
        missing = [
            k
            for k in ("population", "generations", "num_parents", "mutation_prob")
            if getattr(self, k) is None
        ]
        if missing:
            raise InputError(
                f"spos search='evolution' needs explicit {', '.join(missing)} (no defaults; algorithms.md §6)"
            )
        assert self.population is not None and self.generations is not None
        assert self.num_parents is not None and self.mutation_prob is not None
        if self.population < 1 or self.generations < 0 or self.num_parents < 1:
            raise InputError("spos evolution: population >= 1, generations >= 0, num_parents >= 1")
        if not 0.0 < self.mutation_prob <= 1.0:
            raise InputError(f"spos mutation_prob={self.mutation_prob}: must be in (0, 1]")
