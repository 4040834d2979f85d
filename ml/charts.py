"""Small report charts: PNG bytes (matplotlib, a dependency), plus a Markdown table of the same data
that Dagster metadata shows beside the image and that stands in where matplotlib is absent.
"""

from __future__ import annotations

import importlib.util
import io

import numpy as np
import pandas as pd


def matplotlib_available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def markdown_table(frame: pd.DataFrame, float_format: str = "{:.2f}") -> str:
    """A GitHub-flavoured Markdown table; columns are formatted as whole columns, not cell by cell."""
    cells = {}
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_float_dtype(col):
            cells[name] = col.map(float_format.format).where(col.notna(), "")
        else:
            # A '|' inside a cell (series ids are 'category|district') would split the column.
            cells[name] = col.astype("string").fillna("").str.replace("|", "\\|", regex=False)
    body = pd.DataFrame(cells)
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ("| " + body.agg(" | ".join, axis=1) + " |").tolist() if len(body) else []
    return "\n".join([header, rule, *rows])


def _figure_png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def profile_heatmap_png(zscores: pd.DataFrame, title: str) -> bytes | None:
    """Segments (rows) by features (columns), coloured by z-score of the segment mean vs all citizens."""
    if not matplotlib_available() or zscores.empty:
        return None
    import matplotlib

    matplotlib.use("Agg")  # no display on servers
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * zscores.shape[1]), 0.5 * zscores.shape[0] + 1.8))
    values = np.clip(zscores.to_numpy(dtype=float), -2.5, 2.5)
    image = ax.imshow(values, cmap="RdBu_r", vmin=-2.5, vmax=2.5, aspect="auto")
    fig.colorbar(image, ax=ax, shrink=0.6, label="z-score")
    ax.set_xticks(range(zscores.shape[1]), zscores.columns, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(zscores.shape[0]), zscores.index, fontsize=7)
    ax.set_title(title, fontsize=9)
    return _figure_png(fig)


def forecast_lines_png(panels: dict[str, pd.DataFrame], title: str) -> bytes | None:
    """One small panel per series: columns date, actual, p10, p50, p90 (NaN where not applicable)."""
    if not matplotlib_available() or not panels:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 1.8 * len(panels)), squeeze=False, sharex=True)
    for ax, (series_id, frame) in zip(axes[:, 0], panels.items(), strict=True):
        ax.plot(frame["date"], frame["actual"], color="black", lw=0.8, label="actual")
        ax.plot(frame["date"], frame["p50"], color="tab:blue", lw=1.0, label="P50")
        ax.fill_between(frame["date"], frame["p10"], frame["p90"], color="tab:blue", alpha=0.2, label="P10-P90")
        ax.set_title(series_id, fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7, loc="upper left")
    fig.suptitle(title, fontsize=9)
    return _figure_png(fig)
