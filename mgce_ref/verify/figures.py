"""The theory figures (``mgce-ref figures``): each PNG is computed with the public API.

- ``theory_alpha_loss.png``: the alpha-loss ``l_beta(p, y)`` against ``p_y`` (eq. 4, the paper's
  Figure 1).
- ``theory_worst_case_2class.png``: two classes, the worst-case ``q_1`` (eq. 17) against the
  classifier's ``p_1`` (eq. 14) with the diagonal (the paper's Figure 2, Theorem 1).
- ``theory_link_3class.png``: three classes, the link along a line of logits and the image of a
  grid of logits on the simplex: sparse at small beta, softmax at beta = inf.
- ``theory_limits.png``: the errors against softmax (beta -> inf) and sparsemax (beta -> 1+),
  with the observed orders (the data of ``limits.py``).

Matplotlib (Agg) is imported inside :func:`make_figures`; the output is deterministic (seeded
data, default style, no software tag in the PNG metadata).
"""

import math

import numpy as np

from .. import alpha_loss, link, worst_case

NAMES = ("theory_alpha_loss.png", "theory_worst_case_2class.png", "theory_link_3class.png",
         "theory_limits.png")


def _label(beta):
    """``beta = 2 (alpha = 2)``-style legend text, naming the MAE and CE ends."""
    if beta == 1.0:
        return "β = 1 (MAE)"
    if math.isinf(beta):
        return "β = ∞ (CE)"
    return f"β = {beta:g} (α = {beta / (beta - 1):.3g})"


def _colors(plt, n):
    return plt.get_cmap("viridis")(np.linspace(0.0, 0.9, n))


def alpha_loss_figure(plt):
    betas = (1.0, 1.25, 1.5, 2.0, 4.0, 10.0, math.inf)
    p = np.linspace(0.0, 1.0, 1001)[1:]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for beta, color in zip(betas, _colors(plt, len(betas)), strict=True):
        ax.plot(p, alpha_loss(p[:, None], np.zeros(len(p), np.int64), beta), color=color,
                label=_label(beta))
    ax.set(xlim=(0, 1), ylim=(0, 4), xlabel="probability of the true class  $p_y$",
           ylabel=r"$\ell_\beta(p, y) = \beta\,(1 - p_y^{1/\beta})$",
           title="α-loss for several β (eq. 4; the paper's Figure 1)")
    ax.grid(alpha=0.3)
    ax.legend(title="α = β / (β − 1)")
    return fig


def worst_case_figure(plt):
    betas = (1.0, 1.1, 1.5, 2.0, 5.0, math.inf)
    fig, ax = plt.subplots(figsize=(7.6, 5.0))
    for beta, color in zip(betas, _colors(plt, len(betas)), strict=True):
        reach = 40.0 if math.isinf(beta) else beta + 0.5  # p_1 = 0 once h_1 - h_2 <= -beta
        u = np.concatenate([np.linspace(-reach, reach, 4001), [0.0]])
        u.sort()
        h = np.stack([u, np.zeros_like(u)], axis=1)
        p1, q1 = link(h, beta)[:, 0], worst_case(h, beta)[:, 0]
        if beta == 1.0:  # q is uniform on the support: a step, drawn without verticals
            inner = (p1 > 0) & (p1 < 1)
            ax.plot(p1[inner], q1[inner], color=color, label=_label(beta))
            ax.plot([0, 1], [0, 1], "o", color=color, ms=5, clip_on=False, zorder=3)
        else:
            ax.plot(p1, q1, color=color, label=_label(beta))
    ax.plot([0, 1], [0, 1], color="0.2", ls=":", lw=1.2, label="diagonal q = p", zorder=4)
    ax.text(0.04, 0.62, "low confidence:\nq > p (gains mass)", fontsize=9)
    ax.text(0.62, 0.2, "high confidence:\nq < p (loses mass)", fontsize=9)
    ax.set(xlim=(0, 1), ylim=(0, 1), aspect="equal",
           xlabel="classifier probability  $p_1$ (eq. 14)",
           ylabel="worst-case probability  $q_1$ (eq. 17)",
           title="Two classes: worst case vs classifier\n(Theorem 1; the paper's Figure 2)")
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.03, 0.5), fontsize=9,
              title="β = ∞ lies on the diagonal", title_fontsize=8)
    fig.tight_layout()
    return fig


def link_figure(plt):
    from matplotlib.colors import ListedColormap

    betas = (1.0, 1.5, 3.0, math.inf)
    u = np.linspace(-3.0, 3.0, 1201)
    line = np.stack([u, np.zeros_like(u), np.full_like(u, -0.5)], axis=1)
    g = np.linspace(-3.0, 3.0, 301)
    a, b = np.meshgrid(g, g)
    grid = np.stack([a.ravel(), b.ravel(), np.zeros(a.size)], axis=1)
    support_cmap = ListedColormap(["#d62728", "#ff9f40", "#1f77b4"])
    fig, axes = plt.subplots(2, len(betas), figsize=(13, 7.0), layout="constrained")
    class_colors = ("tab:blue", "tab:orange", "tab:green")
    for j, beta in enumerate(betas):
        ax = axes[0, j]
        p = link(line, beta)
        for c in range(3):
            ax.plot(u, p[:, c], color=class_colors[c], label=f"$p_{c + 1}$")
        ax.set(ylim=(-0.03, 1.03), title=_label(beta), xlabel="$u$ in $h = (u, 0, -0.5)$")
        ax.grid(alpha=0.3)
        if j == 0:
            ax.set_ylabel("link $p(h)$ (eq. 14)")
            ax.legend(loc="center left", fontsize=8)
        ax = axes[1, j]
        size = (link(grid, beta) > 0.0).sum(axis=1).reshape(a.shape)
        im = ax.imshow(size, origin="lower", extent=(-3, 3, -3, 3), cmap=support_cmap,
                       vmin=0.5, vmax=3.5, interpolation="nearest")
        shares = ", ".join(f"{k}: {100 * (size == k).mean():.0f}%" for k in (1, 2, 3))
        ax.set_title(f"support size  {shares}", fontsize=9)
        ax.set(xlabel="$h_1$", aspect="equal")
        if j == 0:
            ax.set_ylabel("$h_2$   (with $h_3 = 0$)")
    cbar = fig.colorbar(im, ax=axes[1, :].tolist(), ticks=(1, 2, 3), shrink=0.9, pad=0.02)
    cbar.set_label("classes with $p_c > 0$")
    fig.suptitle("Three classes: the link (eq. 14) is sparsemax at β = 1 and softmax at β = ∞\n"
                 "top: along a line of logits; bottom: how many classes keep positive "
                 "probability, over $h = (h_1, h_2, 0)$", fontsize=11)
    return fig


def limits_figure(plt):
    from . import _sweep
    from .limits import STEPS, limit_errors

    h = _sweep.rng(28).normal(size=(50, 10))
    steps = 10.0 ** -np.arange(0.0, 8.25, 0.25)
    fit = steps <= STEPS[0] * (1 + 1e-9)  # the check's range: 1e-3 ... 1e-8
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    for ax, end, xlabel, title in (
            (axes[0], "inf", "1 / β", "β → ∞: softmax and −logsumexp (App. B, eqs. 27-28)"),
            (axes[1], "one", "β − 1", "β → 1+: sparsemax and −(1 + τ)")):
        ep, en = limit_errors(h, end, steps)
        for err, name, style in ((ep.max(axis=0), "max |p − limit|", dict(
                color="tab:blue", marker="o", ls="-")), (en.max(axis=0), "max |ν − limit|",
                dict(color="tab:orange", marker="s", ls="--", mfc="none"))):
            order = _sweep.fit_order(steps[fit], err[fit])
            ax.loglog(steps, err, ms=4, label=f"{name}  (order {order:.3f})", **style)
        ax.loglog(steps, 0.1 * steps, color="0.5", ls="--", lw=1, label="slope 1")
        ax.set(xlabel=xlabel, ylabel="max error over 50 rows of 10 N(0, 1) logits", title=title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Convergence of the link and ν at the ends of the β range "
                 "(orders fitted on 1e-3 … 1e-8)", fontsize=11)
    fig.tight_layout()
    return fig


def make_figures(out_dir):
    """Write the theory PNGs into ``out_dir`` (created if missing); returns their paths."""
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    paths = []
    with plt.style.context("default"):
        makers = (alpha_loss_figure, worst_case_figure, link_figure, limits_figure)
        for name, make in zip(NAMES, makers, strict=True):
            fig = make(plt)
            path = os.path.join(out_dir, name)
            fig.savefig(path, dpi=110, metadata={"Software": None})
            plt.close(fig)
            paths.append(path)
    return paths
