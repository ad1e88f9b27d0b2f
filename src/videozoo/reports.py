"""Reports people look at: PR curves, per-class tables, confusion matrices, training curves.

* ``write_eval_report(metrics, task, out_dir)``: after `videozoo eval --report DIR`.
  YouTube-8M: ``pr_curve.png`` (global precision-recall over the pooled top-k predictions, the
  curve whose area is GAP) and ``per_class_ap.csv``. Kinetics: ``per_class_accuracy.csv``,
  ``confused_pairs.csv`` and ``confusion_matrix.png``.
* ``plot_run(run_dir)``: `videozoo plot RUN_DIR` draws loss / lr / throughput / validation
  metrics from the run's ``train_log.csv`` and ``valid_log.csv`` into ``curves.png``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from videozoo.errors import DataNotFoundError
from videozoo.fileio import save_figure, write_csv


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def precision_recall(scores: np.ndarray, is_label: np.ndarray, num_positives: int):
    """Precision and recall after each prediction, predictions sorted by score (descending)."""
    order = np.argsort(-scores, kind="stable")
    hits = np.cumsum(is_label[order].astype(np.float64))
    ranks = np.arange(1, len(order) + 1)
    return hits / ranks, hits / max(num_positives, 1)


def write_pr_curve(scores, is_label, num_positives: int, path: Path, title: str) -> Path:
    precision, recall = precision_recall(np.asarray(scores), np.asarray(is_label), num_positives)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.5), dpi=120)
    ax.plot(recall, precision, lw=1.5)
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path


def write_confusion_png(
    confusion: np.ndarray, class_names: list[str], path: Path, max_classes: int = 50
) -> Path:
    """Row-normalised confusion matrix; with many classes, the most confused ones are shown."""
    confusion = np.asarray(confusion, dtype=np.float64)
    idx = np.arange(len(confusion))
    if len(idx) > max_classes:
        off_diag = confusion.sum(1) + confusion.sum(0) - 2 * np.diag(confusion)
        idx = np.sort(np.argsort(-off_diag, kind="stable")[:max_classes])
    sub = confusion[np.ix_(idx, idx)]
    rows = sub / np.maximum(sub.sum(1, keepdims=True), 1)
    plt = _pyplot()
    size = 3 + 0.18 * len(idx)
    fig, ax = plt.subplots(figsize=(size, size), dpi=110)
    im = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    names = [class_names[i] if i < len(class_names) else str(i) for i in idx]
    ax.set_xticks(range(len(idx)), names, rotation=90, fontsize=6)
    ax.set_yticks(range(len(idx)), names, fontsize=6)
    ax.set(xlabel="predicted", ylabel="true", title="confusion (row-normalised)")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path


def most_confused_pairs(confusion: np.ndarray, top: int = 20) -> list[tuple[int, int, int]]:
    """(true, predicted, count) for the largest off-diagonal cells."""
    off = np.asarray(confusion).copy()
    np.fill_diagonal(off, 0)
    flat = np.argsort(-off, axis=None, kind="stable")[:top]
    pairs = [(int(i), int(j), int(off[i, j])) for i, j in zip(*np.unravel_index(flat, off.shape))]
    return [p for p in pairs if p[2] > 0]


def _namer(class_names: list[str]):
    return lambda i: class_names[i] if i < len(class_names) else str(i)


def write_multilabel_report(metrics, class_names: list[str], out_dir: str | Path, top_k: int) -> list[Path]:
    """YouTube-8M: ``pr_curve.png`` and ``per_class_ap.csv`` (classes by positives)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = _namer(class_names)
    scores, is_label, positives = metrics.pooled_predictions()
    curve = write_pr_curve(
        scores, is_label, positives, out / "pr_curve.png", f"global precision-recall (top-{top_k} per video)"
    )
    ap, counts = metrics.per_class_average_precision()
    order = np.argsort(-counts, kind="stable")
    table = write_csv(
        out / "per_class_ap.csv",
        ["class_id", "class_name", "positives", "average_precision"],
        ([int(c), name(c), int(counts[c]), "" if np.isnan(ap[c]) else f"{ap[c]:.6f}"] for c in order),
        escape=True,
    )
    return [curve, table]


def write_singlelabel_report(metrics, class_names: list[str], out_dir: str | Path) -> list[Path]:
    """Kinetics: ``per_class_accuracy.csv``, ``confused_pairs.csv``, ``confusion_matrix.png``
    and, when some videos could not be decoded, ``undecodable_videos.csv``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = _namer(class_names)
    confusion = metrics.confusion_matrix()
    totals = confusion.sum(1)
    acc = np.divide(np.diag(confusion), totals, out=np.full(len(totals), np.nan), where=totals > 0)
    written = [
        write_csv(
            out / "per_class_accuracy.csv",
            ["class_id", "class_name", "videos", "accuracy"],
            (
                [c, name(c), int(totals[c]), "" if np.isnan(acc[c]) else f"{acc[c]:.6f}"]
                for c in range(len(totals))
            ),
            escape=True,
        ),
        write_csv(
            out / "confused_pairs.csv",
            ["true_class", "predicted_class", "count"],
            ([name(i), name(j), n] for i, j, n in most_confused_pairs(confusion)),
            escape=True,
        ),
        write_confusion_png(confusion, class_names, out / "confusion_matrix.png"),
    ]
    invalid = getattr(metrics, "invalid_ids", None)
    if invalid:
        written.append(
            write_csv(out / "undecodable_videos.csv", ["video"], ([vid] for vid in invalid), escape=True)
        )
    return written


def _read_csv(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    columns = {}
    for key in rows[0] if rows else {}:
        try:
            columns[key] = np.array([float(r[key]) for r in rows])
        except (TypeError, ValueError):
            continue
    return columns


def plot_run(run_dir: str | Path, output: str | Path | None = None) -> Path:
    run_dir = Path(run_dir)
    train = _read_csv(run_dir / "train_log.csv")
    valid = _read_csv(run_dir / "valid_log.csv")
    if not train and not valid:
        raise DataNotFoundError(
            f"{run_dir} has no train_log.csv / valid_log.csv; "
            "point `videozoo plot` at a folder written by `videozoo train`"
        )
    metric_keys = [
        k for k in valid if k not in ("epoch", "step", "num_videos", "num_invalid", "skipped_records")
    ]
    panels = [k for k in ("loss", "lr", "samples_per_s") if k in train] + (["metrics"] if metric_keys else [])
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), dpi=110, squeeze=False)
    for ax, panel in zip(axes[0], panels):
        if panel == "metrics":
            for key in metric_keys:
                ax.plot(valid["epoch"], valid[key], marker="o", label=key)
            ax.set(xlabel="epoch", title="validation")
            ax.legend(fontsize=7)
        else:
            ax.plot(train["step"], train[panel], lw=1.2)
            ax.set(xlabel="step", title=panel.replace("_", " "))
            if panel == "lr":
                ax.set_yscale("log")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(output) if output else run_dir / "curves.png"
    save_figure(fig, path)
    plt.close(fig)
    return path
