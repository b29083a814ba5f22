"""Report figures (matplotlib, Agg backend, PNG + SVG), each returned with a caption saying exactly what is
plotted.

Why captions live here: a figure of "children accuracy" can mean the region's distribution or the one arch a
child derives; the caption is written next to the code that chooses, so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from reports import aggregate as agg  # noqa: E402
from reports.atomic import atomic_path  # noqa: E402
from reports.load import RunSet  # noqa: E402
from reports.tables import DATASET_LABELS, method_label  # noqa: E402


def darts_space_size(ops_per_edge: int = 7, nodes: int = 4, cells: int = 2) -> int:
    """Number of DARTS genotypes, computed rather than quoted so the stage-0 point cannot drift from the space.

    Node k of a cell picks two distinct inputs i < j among the 2 cell inputs and the k earlier nodes and one op for
    each, so it has sum over pairs of a_i * a_j choices (a_e = non-`none` ops of edge e); a cell is the product
    over its nodes, the genotype the product over the normal and reduction cells. Both DARTS spaces have 7 ops per
    kept edge: `darts` searches `none` too, but derivation never keeps it."""
    per_cell = 1
    for k in range(nodes):
        per_cell *= sum(a * b for a, b in combinations([ops_per_edge] * (k + 2), 2))
    return per_cell**cells


#: size of the whole search space (stage 0 of the stage-size plot); 5 ops on 6 edges for NB201
SPACE_SIZES = {"nb201": 5**6, "darts": darts_space_size(), "darts-s5": darts_space_size()}
DARTS_SPACES = ("darts", "darts-s5")
COLORS = {
    "darts": "#1f77b4",
    "spos": "#ff7f0e",
    "fewshot": "#2ca02c",
    "hepnas": "#d62728",
    "random_search": "#9467bd",
    "gmnas": "#8c564b",
}
_FALLBACK = plt.get_cmap("tab10").colors

plt.rcParams.update(
    {
        "font.size": 10,
        "axes.titlesize": 11,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "svg.fonttype": "none",
        "figure.dpi": 110,
    }
)


@dataclass(frozen=True)
class Figure:
    name: str
    title: str
    caption: str
    files: tuple[str, ...]  # file names relative to the figure directory


def color(algorithm: str, i: int = 0, variant: str = "default") -> object:
    """The algorithm's colour for its default variant; other variants (ablations) get other colours."""
    if variant == "default" and algorithm in COLORS:
        return COLORS[algorithm]
    return _FALLBACK[(i + 6) % len(_FALLBACK)]


def _save(fig: plt.Figure, out_dir: Path, name: str) -> tuple[str, ...]:
    """PNG + SVG of `fig`, each rendered into a temp file in `out_dir` and renamed over the target (a failed
    render never leaves half a picture or removes the previous one). The figure is closed either way."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = (f"{name}.png", f"{name}.svg")
    try:
        with atomic_path(out_dir / files[0]) as tmp:
            fig.savefig(tmp, format="png", dpi=130)
        with atomic_path(out_dir / files[1]) as tmp:
            fig.savefig(tmp, format="svg")
    finally:
        plt.close(fig)
    return files


def _label(ds: str, split: str) -> str:
    return f"{DATASET_LABELS.get(ds, ds)} {split}"


def region_gt(rs: RunSet, ev: tuple[str, str]) -> pd.DataFrame:
    """Ground truth of rank-eval architectures by the stage region that holds them, per run.

    An arch owned by sub-supernet stageS/childC lies in that child's region; an arch owned by a deeper stage
    lies in the region each earlier stage kept. Rows: run_id, algorithm, variant, stage, kept (bool), gt_acc,
    where
    kept=True means "inside the picked child's region after stage S" (the remaining space) and False "inside a
    discarded sibling's region at stage S". Stage 0 rows hold every scored arch (the whole sampled space).
    """
    pts = agg.rank_eval_points(rs)
    pts = pts[(pts["eval_dataset"] == ev[0]) & (pts["split"] == ev[1])].dropna(subset=["gt_acc"])
    picks = agg.stage_picks(rs)
    cols = ["run_id", "algorithm", "variant", "stage", "kept", "gt_acc"]
    if pts.empty or picks.empty:
        return pd.DataFrame(columns=cols)
    pts = pts[pts["run_id"].isin(picks["run_id"])]
    out = [pts.assign(stage=0, kept=True)[cols]]
    n_stages = picks.groupby("run_id")["stage"].max()
    # NaN: owned by no stage child. In a staged run that is the final supernet (HEP-NAS owner "final"), whose
    # region lies inside every stage's kept region, so such archs count as kept at every stage.
    owner_stage = pts["stage"]
    for s in range(1, int(n_stages.max()) + 1 if not n_stages.empty else 1):
        pick = pts["run_id"].map(picks[picks["stage"] == s].set_index("run_id")["child"])
        has_stage = pick.notna()
        deeper = owner_stage.isna() | (owner_stage > s)
        at_stage = owner_stage == s
        kept = has_stage & (deeper | (at_stage & (pts["child"] == pick)))
        dropped = has_stage & at_stage & (pts["child"] != pick)
        out.append(pts[kept].assign(stage=s, kept=True)[cols])
        out.append(pts[dropped].assign(stage=s, kept=False)[cols])
    return pd.concat(out, ignore_index=True)


def stage_figure(rs: RunSet, out_dir: Path, space: str, search: str, suffix: str) -> Figure | None:
    sizes = agg.stage_sizes(rs)
    sizes = sizes[(sizes["space"] == space) & (sizes["search_dataset"] == search)]
    if sizes.empty:
        return None
    ev = ("cifar10", "test")
    judge = agg.group_judge(rs, space, search)
    regions = region_gt(rs, ev)
    if judge.is_surrogate:  # its regions would hold predictions, not ground truth: show the children's proxy
        regions = regions.iloc[0:0]
    kids = agg.children(rs)
    kids = kids[(kids["space"] == space) & (kids["search_dataset"] == search)].dropna(subset=["score"])
    methods = sorted(set(zip(sizes["algorithm"], sizes["variant"], strict=True)))
    fig, axes = plt.subplots(1, 1 + len(methods), figsize=(4.8 * (1 + len(methods)), 4.2), squeeze=False)
    ax = axes[0, 0]
    full = SPACE_SIZES.get(space)
    for i, (algorithm, variant) in enumerate(methods):
        part = sizes[(sizes["algorithm"] == algorithm) & (sizes["variant"] == variant)]
        first = True
        for _, run in part.groupby("run_id"):
            xs = list(run["stage"].astype(int))
            ys = list(run["remaining_space"].astype(float))
            if full is not None:
                xs, ys = [0, *xs], [full, *ys]
            ax.plot(
                xs,
                ys,
                "o-" if variant == "default" else "s--",
                color=color(algorithm, i, variant),
                alpha=0.7,
                lw=1.5,
                ms=6 if variant == "default" else 4,
                label=method_label(algorithm, variant) if first else None,
            )
            first = False
    ax.set_yscale("log")
    ax.set_xlabel("stage (0 = whole space)")
    ax.set_ylabel(f"{'genotypes' if space in DARTS_SPACES else 'architectures'} in the remaining space")
    ax.set_title("Remaining search-space size")
    ax.xaxis.get_major_locator().set_params(integer=True)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="lower left")
    rng = np.random.default_rng(0)
    used_regions, used_scores = [], []
    for i, (algorithm, variant) in enumerate(methods):
        ax = axes[0, 1 + i]
        c = color(algorithm, i, variant)
        reg = regions[(regions["algorithm"] == algorithm) & (regions["variant"] == variant)]
        if not reg.empty:
            used_regions.append(method_label(algorithm, variant))
            stages = sorted(reg["stage"].astype(int).unique())
            for kept, dx, face in ((True, -0.18, c), (False, 0.18, "0.75")):
                data = [reg[(reg["stage"] == s) & (reg["kept"] == kept)]["gt_acc"].to_numpy() for s in stages]
                pos = [s + (dx if s else 0) for s in stages]
                keep = [(p, d) for p, d in zip(pos, data, strict=True) if len(d)]
                if not keep:
                    continue
                bp = ax.boxplot(
                    [d for _, d in keep],
                    positions=[p for p, _ in keep],
                    widths=0.3,
                    showfliers=False,
                    patch_artist=True,
                    medianprops={"color": "black"},
                    manage_ticks=False,
                )
                for box in bp["boxes"]:
                    box.set_facecolor(face)
                    box.set_alpha(0.6)
                for p, d in keep:
                    ax.annotate(
                        f"{len(d)}",
                        (p, float(np.max(d))),
                        textcoords="offset points",
                        xytext=(0, 2),
                        ha="center",
                        fontsize=7,
                    )
            ax.set_xticks(stages, [str(s) for s in stages])
            ax.set_xlim(min(stages) - 0.5, max(stages) + 0.5)
            handles = [
                matplotlib.patches.Patch(facecolor=c, alpha=0.6, label="kept (picked child's region)"),
                matplotlib.patches.Patch(facecolor="0.75", alpha=0.6, label="discarded siblings' regions"),
            ]
            ax.legend(handles=handles, fontsize=7, loc="lower right")
            ax.set_ylabel(f"GT accuracy (%), {_label(*ev)}")
            ax.set_title(f"{method_label(algorithm, variant)}: GT per stage region (n above)")
        else:
            part = kids[(kids["algorithm"] == algorithm) & (kids["variant"] == variant)]
            if part.empty:
                ax.text(
                    0.5,
                    0.5,
                    "no stage children recorded (n/a)",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                )
            else:
                used_scores.append(method_label(algorithm, variant))
                picked = part.merge(
                    agg.stage_picks(rs).assign(picked=True), on=["run_id", "stage", "child"], how="left"
                )
                picked["picked"] = picked["picked"].eq(True)
                for flag, marker, label in ((False, "o", "child"), (True, "*", "picked child")):
                    sel = picked[picked["picked"] == flag]
                    ax.scatter(
                        sel["stage"] + rng.uniform(-0.15, 0.15, size=len(sel)),
                        sel["score"],
                        s=60 if flag else 16,
                        marker=marker,
                        alpha=0.8 if flag else 0.5,
                        color="black" if flag else c,
                        label=label,
                        zorder=3,
                    )
                ax.set_xticks(sorted(part["stage"].astype(int).unique()))
                ax.legend(fontsize=7)
            ax.set_ylabel("child held-out accuracy (%), supernet proxy")
            ax.set_title(f"{method_label(algorithm, variant)}: children per stage")
        ax.set_xlabel("stage")
    fig.tight_layout()
    name = f"stages_{space}_{search}{suffix}"
    files = _save(fig, out_dir, name)
    caption = (
        "Left: architectures remaining after each stage (records.csv remaining_space of the stage; one line "
        "per run; stage 0 is the whole space)."
    )
    if used_regions:
        caption += (
            f" Right ({', '.join(used_regions)}): ground-truth accuracy ({_label(*ev)}, 200 epochs, seed "
            "mean) of the rank-eval sample architectures, grouped by the region that holds them: at stage S, "
            "coloured = inside the picked child's region (the remaining space), grey = inside the discarded "
            "siblings' regions; stage 0 = all sampled architectures; pooled over runs (n per box). Region "
            "membership comes from which sub-supernet owns each arch (archs.csv rank_eval stage/child; archs "
                "owned by the final supernet count as kept at every stage); this "
            "is a sample of each region, not its full distribution."
        )
    if used_scores and judge.is_surrogate:
        caption += _surrogate_stage_caption(space, used_scores)
        return Figure(name, "Stage sizes and each stage's children (held-out accuracy)", caption, files)
    if used_scores:
        caption += (
            f" Right ({', '.join(used_scores)}): no rank-eval owners recorded, so the panel shows each "
            "child sub-supernet's held-out accuracy (the selection proxy, NOT ground truth); star = picked."
        )
    return Figure(name, "Stage sizes and the accuracy of each stage's regions", caption, files)


def _surrogate_stage_caption(space: str, methods: list[str]) -> str:
    full = SPACE_SIZES.get(space)
    size = f"{full:.3e} genotypes, computed by darts_space_size" if full is not None else "n/a"
    return (
        f" Log axis; stage 0 = the whole {space} space ({size}: per cell and node, the sum over input pairs of "
        f"7 x 7 ops, multiplied over 4 nodes and 2 cells). Right ({', '.join(methods)}): each child "
        "sub-supernet's held-out accuracy on the search data (the selection proxy: neither a surrogate prediction "
        "nor a measured accuracy); star = picked."
    )


@dataclass(frozen=True)
class AccuracyAxis:
    """What a figure's accuracy axis shows: ground truth, or a surrogate's prediction named as one (its label in
    the axis text and caption, "surrogate" in the file name) so a plot is never mistaken for measured accuracy."""

    ev: tuple[str, str]
    axis: str  # axis label
    caption: str  # how the caption names the values
    stem: str  # file-name tag: "gt" or "surrogate"


def accuracy_axis(rs: RunSet, space: str, search: str, ev: tuple[str, str]) -> AccuracyAxis:
    """The ground-truth axis (evaluation `ev`) of an NB201-style group, or the surrogate's axis for a group whose
    judge is a surrogate."""
    judge = agg.group_judge(rs, space, search)
    if not judge.is_surrogate:
        return AccuracyAxis(ev, f"GT accuracy (%), {_label(*ev)}", f"ground truth ({_label(*ev)})", "gt")
    sev = agg.SURROGATE_EVAL
    return AccuracyAxis(
        sev,
        f"surrogate-predicted accuracy (%), {_label(*sev)}\n(a prediction, not measured)",
        f"surrogate-predicted accuracy ({_label(*sev)}; {judge.label})",
        "surrogate",
    )


def score_figure(rs: RunSet, out_dir: Path, space: str, search: str, suffix: str) -> Figure | None:
    pts = agg.rank_eval_points(rs)
    acc_axis = accuracy_axis(rs, space, search, ("cifar10", "test"))
    ev = acc_axis.ev
    pts = pts[
        (pts["space"] == space)
        & (pts["search_dataset"] == search)
        & (pts["eval_dataset"] == ev[0])
        & (pts["split"] == ev[1])
    ].dropna(subset=["score", "gt_acc"])
    if pts.empty:
        return None
    rank = rs.rank
    methods = sorted(set(zip(pts["algorithm"], pts["variant"], strict=True)))
    ncol = min(len(methods), 4)
    nrow = -(-len(methods) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.8 * nrow), squeeze=False)
    shown = []
    for k, (algorithm, variant) in enumerate(methods):
        ax = axes[k // ncol, k % ncol]
        part = pts[(pts["algorithm"] == algorithm) & (pts["variant"] == variant)]
        first = part.sort_values(["seed", "run_id"]).iloc[0]
        run_pts = part[part["run_id"] == first["run_id"]]
        ax.scatter(
            run_pts["gt_acc"],
            run_pts["score"],
            s=6,
            alpha=0.5,
            color=color(algorithm, k, variant),
            rasterized=True,
        )
        taus = rank[
            (rank["run_id"].isin(part["run_id"].unique()))
            & (rank["owner"] == "all")
            & (rank["eval_dataset"] == ev[0])
            & (rank["split"] == ev[1])
            & (rank["arch_set"] == "all")
            & (rank["metric"] == "kendall_tau")
        ]
        tau_run = taus[taus["run_id"] == first["run_id"]]["value"]
        tau_txt = f"τ-b = {tau_run.iloc[0]:.3f}" if not tau_run.empty else "τ-b = n/a"
        if len(taus) > 1:
            tau_txt += f"\nmean over {len(taus)} runs: {taus['value'].mean():.3f}"
        ax.text(
            0.03,
            0.97,
            tau_txt,
            transform=ax.transAxes,
            va="top",
            fontsize=9,
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8},
        )
        ax.set_title(f"{method_label(algorithm, variant)} (seed {first['seed']}, n={len(run_pts)})")
        ax.set_xlabel(acc_axis.axis)
        ax.set_ylabel(f"supernet score ({first['score_name'] or 'score'})")
        shown.append(f"{method_label(algorithm, variant)}: run {first['run_id']}")
    for k in range(len(methods), nrow * ncol):
        axes[k // ncol, k % ncol].set_visible(False)
    fig.tight_layout()
    name = f"score_vs_{acc_axis.stem}_{space}_{search}{suffix}"
    files = _save(fig, out_dir, name)
    caption = (
        f"Supernet score vs {acc_axis.caption} on the harness's rank-eval set (archs.csv "
        f"role=rank_eval), one run per method (lowest seed: {'; '.join(shown)}). τ-b from rank.csv "
        "(owner all, arch set all) for that run, and its mean over runs."
    )
    title = "Supernet score vs ground truth" if acc_axis.stem == "gt" else "Supernet score vs surrogate prediction"
    return Figure(name, title, caption, files)


def cost_figure(rs: RunSet, out_dir: Path, space: str, search: str, suffix: str) -> Figure | None:
    finals = agg.final_per_run(rs)
    acc_axis = accuracy_axis(rs, space, search, (search, "test"))
    ev = acc_axis.ev
    finals = finals[
        (finals["space"] == space)
        & (finals["search_dataset"] == search)
        & (finals["eval_dataset"] == ev[0])
        & (finals["split"] == ev[1])
    ]
    finals = finals.dropna(subset=["gt_acc", "search_cost_s"])
    if finals.empty:
        return None
    unit = agg.space_cost_unit(rs, space)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for i, ((algorithm, variant), part) in enumerate(finals.groupby(["algorithm", "variant"], sort=True)):
        hours = part["search_cost_s"] / 3600.0
        c = color(algorithm, i, variant)
        ax.scatter(hours, part["gt_acc"], s=22, alpha=0.5, color=c)
        ax.errorbar(
            hours.mean(),
            part["gt_acc"].mean(),
            xerr=hours.std() if len(part) > 1 else None,
            yerr=part["gt_acc"].std() if len(part) > 1 else None,
            fmt="D",
            ms=8,
            color=c,
            capsize=3,
            label=f"{method_label(algorithm, variant)} (n={len(part)})",
        )
    ax.set_xscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda v, _pos: f"{v:g}")
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel(f"search cost ({unit}, log scale)")
    surrogate = acc_axis.stem == "surrogate"
    ax.set_ylabel(f"final-arch {acc_axis.axis}")
    what = "Surrogate accuracy" if surrogate else "Accuracy"
    ax.set_title(f"{what} vs search cost (search on {DATASET_LABELS.get(search, search)})")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    name = f"{'surrogate_' if surrogate else ''}acc_vs_cost_{space}_{search}{suffix}"
    files = _save(fig, out_dir, name)
    described = acc_axis.caption if surrogate else f"ground-truth accuracy ({_label(*ev)})"
    caption = (
        f"Final architecture's {described} against search cost ({unit}); small "
        "dots = runs, diamonds = mean ± std over runs."
    )
    return Figure(name, f"{what} vs search cost", caption, files)


def seeds_figure(rs: RunSet, out_dir: Path, space: str, search: str, suffix: str) -> Figure | None:
    finals = agg.final_per_run(rs)
    finals = finals[
        (finals["space"] == space) & (finals["search_dataset"] == search) & (finals["split"] == "test")
    ]
    finals = finals.dropna(subset=["gt_acc"])
    if finals.empty:
        return None
    datasets = [d for d, s in agg.EVAL_COLUMNS if s == "test" and d in set(finals["eval_dataset"])]
    methods = sorted(set(zip(finals["algorithm"], finals["variant"], strict=True)))
    fig, axes = plt.subplots(
        1, len(datasets), figsize=(max(4.0, 1.1 * len(methods) + 1.5) * len(datasets), 4.2), squeeze=False
    )
    for j, ds in enumerate(datasets):
        ax = axes[0, j]
        for i, (algorithm, variant) in enumerate(methods):
            part = finals[
                (finals["eval_dataset"] == ds)
                & (finals["algorithm"] == algorithm)
                & (finals["variant"] == variant)
            ].sort_values("seed")
            offsets = np.linspace(-0.2, 0.2, len(part)) if len(part) > 1 else np.zeros(len(part))
            ax.scatter(i + offsets, part["gt_acc"], s=30, color=color(algorithm, i, variant), zorder=3)
            for x, y, seed in zip(i + offsets, part["gt_acc"], part["seed"], strict=True):
                ax.annotate(str(seed), (x, y), textcoords="offset points", xytext=(4, 2), fontsize=7)
            if len(part):
                ax.hlines(part["gt_acc"].mean(), i - 0.3, i + 0.3, color="black", lw=1)
        ax.set_xticks(range(len(methods)))
        ax.set_xticklabels([method_label(a, v) for a, v in methods], rotation=20, ha="right")
        ax.set_xlim(-0.6, len(methods) - 0.4)
        ax.set_title(_label(ds, "test"))
        ax.set_ylabel("final-arch GT accuracy (%)")
    fig.suptitle(f"Per-seed final accuracies (search on {DATASET_LABELS.get(search, search)})")
    fig.tight_layout()
    name = f"per_seed_{space}_{search}{suffix}"
    files = _save(fig, out_dir, name)
    caption = (
        "Ground-truth test accuracy of each run's final architecture (200 epochs, seed mean); "
        "each dot is one "
        "search seed (number beside it), the bar is the mean over seeds."
    )
    return Figure(name, "Per-seed final accuracies", caption, files)


FIGURE_BUILDERS: tuple[Callable[[RunSet, Path, str, str, str], Figure | None], ...] = (
    stage_figure,
    score_figure,
    cost_figure,
    seeds_figure,
)


def make_figures(rs: RunSet, out_dir: Path) -> list[Figure]:
    """All figures for every (space, search dataset) group of ok runs."""
    groups = (
        rs.ok_runs[["space", "search_dataset"]].drop_duplicates().sort_values(["space", "search_dataset"])
    )
    figures = []
    for space, search in groups.itertuples(index=False):
        for build in FIGURE_BUILDERS:
            fig = build(rs, out_dir, space, search, "")
            if fig is not None:
                figures.append(fig)
    return figures
