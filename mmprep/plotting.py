"""Plotting helpers shared by the lessons (matplotlib only; every function returns its Axes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def _axes(ax):
    import matplotlib.pyplot as plt

    return ax if ax is not None else plt.subplots(figsize=(5, 4))[1]


def plot_curves(history: Mapping[str, Sequence[float]], xlabel: str = "step", ylabel: str = "", title: str = "", ax=None):
    """One line per named series, e.g. {"train loss": [...], "val loss": [...]}."""
    ax = _axes(ax)
    for name, values in history.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=name)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


def plot_heatmap(matrix, xlabels=None, ylabels=None, title: str = "", cmap: str = "viridis", annotate: bool = False,
                 xlabel: str = "", ylabel: str = "", ax=None):
    """A matrix as an image with a colour bar (attention weights, cost matrices, transport plans)."""
    ax = _axes(ax)
    m = np.asarray(matrix, dtype=float)
    image = ax.imshow(m, cmap=cmap, aspect="auto")
    ax.figure.colorbar(image, ax=ax)
    if xlabels is not None:
        ax.set_xticks(range(len(xlabels)), labels=list(xlabels), rotation=45, ha="right")
    if ylabels is not None:
        ax.set_yticks(range(len(ylabels)), labels=list(ylabels))
    if annotate:
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, f"{v:g}", ha="center", va="center", color="w" if v < m.mean() else "k", fontsize=8)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return ax


def plot_confusion_matrix(matrix, class_names: Sequence[str] | None = None, title: str = "confusion matrix", ax=None):
    """Rows are true classes, columns predicted classes (scikit-learn's layout)."""
    return plot_heatmap(matrix, class_names, class_names, title=title, cmap="Blues", annotate=True,
                        xlabel="predicted", ylabel="true", ax=ax)


def plot_roc(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], title: str = "ROC", ax=None):
    """ROC curves {name: (fpr, tpr)} with the chance diagonal."""
    ax = _axes(ax)
    for name, (fpr, tpr) in curves.items():
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right")
    return ax


def plot_bars(values: Mapping[str, float], ylabel: str = "", title: str = "", reference: float | None = None, ax=None):
    """Bar chart of named values, with an optional horizontal reference line (e.g. chance)."""
    ax = _axes(ax)
    names = list(values)
    ax.bar(names, [values[n] for n in names], color="tab:blue")
    if reference is not None:
        ax.axhline(reference, color="k", ls="--", lw=1)
    ax.set(ylabel=ylabel, title=title)
    ax.tick_params(axis="x", rotation=30)
    return ax
