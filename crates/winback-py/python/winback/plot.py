"""Plots for notebooks (matplotlib, the optional `plot` extra).

>>> from winback import plot                                   # doctest: +SKIP
>>> plot.gains(model.plan(tx, at="2011-12-10"))               # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Optional


def _axes(ax: Optional[Any]) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(6, 4))[1]


def gains(plan: Any, ax: Optional[Any] = None) -> Any:
    """Cumulative share of expected win-backs against the share of customers contacted, with the stop point."""
    ax = _axes(ax)
    gains = plan["gains"]
    xs = [0.0] + [g["contact_share"] for g in gains]
    ys = [0.0] + [g["winback_share"] for g in gains]
    ax.plot(xs, ys, marker="o", label="groups in plan order")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random")
    # Where the plan stops (within a group a budget or a cap cut short), as rank computes it.
    stop = plan["stop_point"]
    if stop is not None:
        ax.scatter([stop[0]], [stop[1]], color="red", zorder=3, label="stop")
    ax.set_xlabel("share of the customers planned (controls aside)")
    ax.set_ylabel("share of expected win-backs")
    ax.legend()
    return ax


def calibration(backtest: dict, ax: Optional[Any] = None) -> Any:
    """Predicted vs observed rate per group at the last backtest cutoff."""
    ax = _axes(ax)
    row = backtest["rows"][-1]["model"]["calibration"]
    ax.scatter([r["predicted"] for r in row], [r["observed"] for r in row], s=[10 + r["count"] / 5 for r in row], alpha=0.6)
    top = max([0.05] + [max(r["predicted"], r["observed"]) for r in row]) * 1.1
    ax.plot([0, top], [0, top], linestyle="--", color="grey")
    ax.set_xlabel("predicted probability (group)")
    ax.set_ylabel("observed rate")
    return ax


def groups(model: Any, ax: Optional[Any] = None) -> Any:
    """Group size against probability, with the 90% intervals."""
    model._check()  # NotFittedError before anything is drawn
    ax = _axes(ax)
    g = model._groups
    ax.errorbar([x["size"] for x in g], [x["probability"] for x in g],
                yerr=[[x["probability"] - x["low"] for x in g], [x["high"] - x["probability"] for x in g]], fmt="o")
    for x in g:
        ax.annotate(str(x["id"]), (x["size"], x["probability"]), textcoords="offset points", xytext=(4, 4))
    ax.set_xlabel("customers in the group (training)")
    ax.set_ylabel("probability of a win-back")
    return ax


def qini(curves: Any, ax: Optional[Any] = None) -> Any:
    """Qini curves: the win-backs a contact caused among the contacted customers of the
    top of the list (Y_t - Y_c * N_t / N_c, divided by the list size) against the share
    of the list, best uplift first, with each curve's random line.

    ``curves`` is an ``UpliftModel.evaluate`` result, or a dict ``{label: evaluation or
    [(share, qini), ...]}`` to compare several models on the same customers.
    """
    ax = _axes(ax)
    if isinstance(curves, dict) and "qini" in curves:
        curves = {"uplift groups": curves}
    for label, c in curves.items():
        pts = c["qini"] if isinstance(c, dict) else c
        xs = [p[0] for p in pts]
        ys = [p[1] for p in pts]
        coef = c.get("qini_coefficient") if isinstance(c, dict) else None
        ax.plot(xs, ys, marker="." if len(xs) < 50 else None, label=label if coef is None else f"{label} (Qini {coef:.4f})")
        ax.plot([0, xs[-1]], [0, ys[-1]], linestyle="--", color="grey", linewidth=0.8)
    ax.set_xlabel("share of the list contacted (largest effect first)")
    ax.set_ylabel("win-backs caused among the contacted ÷ list size")
    ax.legend()
    return ax
