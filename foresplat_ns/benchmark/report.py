"""Benchmark outputs: every figure (CSV, JSON), a markdown table of means, headline figures and a plot."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np


def mean_curves(records: List[Dict], key: str = "psnr") -> Dict[str, Dict[int, float]]:
    """Mean of `key` over scenes, per start and step; only steps recorded on every scene of the start (a start
    merged from runs that recorded different steps has no mean over a subset of its scenes)."""
    curves: Dict[str, Dict[int, List[float]]] = {}
    for r in records:
        curves.setdefault(r["start"], {}).setdefault(r["step"], []).append(r[key])
    complete = complete_steps(records)
    return {start: {step: float(np.mean(steps[step])) for step in complete[start]} for start, steps in curves.items()}


def complete_steps(records: List[Dict]) -> Dict[str, List[int]]:
    """Per start, the steps recorded on every scene of that start (merged runs may record different steps)."""
    scenes: Dict[str, set] = {}
    per_step: Dict[str, Dict[int, set]] = {}
    for r in records:
        scenes.setdefault(r["start"], set()).add(r["scene"])
        per_step.setdefault(r["start"], {}).setdefault(r["step"], set()).add(r["scene"])
    return {start: sorted(step for step, seen in steps.items() if seen == scenes[start]) for start, steps in per_step.items()}


def steps_to_reach(curve: Dict[int, float], level: float) -> Optional[int]:
    """First recorded step whose value reaches `level`, or None."""
    for step, value in sorted(curve.items()):
        if value >= level - 1e-9:
            return step
    return None


def interpolated_steps_to_reach(curve: Dict[int, float], level: float) -> Optional[float]:
    """Steps at which the curve, linear between recorded steps, first reaches `level`, or None."""
    previous = None
    for step, value in sorted(curve.items()):
        if value >= level - 1e-9:
            if previous is None or previous[1] >= value:
                return float(step)
            fraction = (level - previous[1]) / (value - previous[1])
            return previous[0] + fraction * (step - previous[0])
        previous = (step, value)
    return None


def headline(records: List[Dict], reference: str) -> Dict[str, Dict]:
    """For each start: steps to reach the reference start's best mean PSNR, and the ratio to the reference's."""
    curves = mean_curves(records)
    if reference not in curves:
        return {}
    best = max(curves[reference].values())
    ref_steps = steps_to_reach(curves[reference], best)
    result = {}
    for start, curve in curves.items():
        steps = steps_to_reach(curve, best)
        ratio = None if steps is None or not ref_steps else steps / ref_steps
        result[start] = {"reference_best_psnr": best, "steps_to_reach": steps, "ratio_to_reference": ratio,
                         "final_psnr": curve[max(curve)]}
    return result


def markdown_table(records: List[Dict], reference: Optional[str] = None) -> str:
    """Mean PSNR / SSIM over scenes at each step, one row per start, plus the headline columns."""
    psnr, ssim = mean_curves(records, "psnr"), mean_curves(records, "ssim")
    gaussians = mean_curves(records, "num_gaussians")
    seconds = mean_curves(records, "refine_seconds")
    steps = sorted({r["step"] for r in records})
    scenes = len({r["scene"] for r in records})
    lines = [
        f"Mean target-view PSNR (dB) / SSIM over {scenes} scenes at each refinement step.",
        "",
        "| start | " + " | ".join(str(s) for s in steps) + " | Gaussians at end | refine s |",
        "|---|" + "---|" * (len(steps) + 2),
    ]
    for start in psnr:
        cells = [f"{psnr[start][s]:.2f} / {ssim[start][s]:.3f}" if s in psnr[start] else "-" for s in steps]
        last = max(psnr[start])
        lines.append(f"| {start} | " + " | ".join(cells) + f" | {gaussians[start][last]:.0f} | {seconds[start][last]:.1f} |")
    if all(r.get("disparity_error") is not None for r in records):
        errors = mean_curves(records, "disparity_error")
        lines += ["", "Mean target-view disparity error (|near/rendered depth - near/true depth|, `disparity_loss`):", "",
                  "| start | " + " | ".join(str(s) for s in steps) + " |", "|---|" + "---|" * len(steps)]
        for start in errors:
            cells = [f"{errors[start][s]:.4f}" if s in errors[start] else "-" for s in steps]
            lines.append(f"| {start} | " + " | ".join(cells) + " |")
    if reference is not None:
        figures = headline(records, reference)
        if figures:
            best = next(iter(figures.values()))["reference_best_psnr"]
            lines += ["", f"Steps to reach {reference}'s best mean PSNR ({best:.2f} dB) within the budget:", "",
                      "| start | steps | ratio to " + reference + " |", "|---|---|---|"]
            for start, f in figures.items():
                steps_text = "never" if f["steps_to_reach"] is None else str(f["steps_to_reach"])
                ratio = "-" if f["ratio_to_reference"] is None else f"{f['ratio_to_reference']:.2f}"
                lines.append(f"| {start} | {steps_text} | {ratio} |")
    return "\n".join(lines) + "\n"


def plot(records: List[Dict], path: Path, reference: Optional[str] = None) -> None:
    """PSNR against refinement steps (symmetric-log x axis so step 0 shows), one line per start; with a
    reference start, a second panel shows each start's difference from it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = mean_curves(records)
    panels = 2 if reference in curves and len(curves) > 1 else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.4 * panels, 4.2), dpi=120, squeeze=False, sharex=True)
    styles = ["-", "--", ":", "-."]
    for index, (start, curve) in enumerate(curves.items()):
        style = dict(marker="o", markersize=4, linestyle=styles[(index // 10) % len(styles)], label=start)
        axes[0, 0].plot(list(curve), list(curve.values()), **style)
        if panels == 2:
            base = curves[reference]
            steps = [k for k in curve if k in base]
            axes[0, 1].plot(steps, [curve[k] - base[k] for k in steps], **style)
    axes[0, 0].set_ylabel("target-view PSNR (dB), mean over scenes")
    if panels == 2:
        axes[0, 1].set_ylabel(f"PSNR minus {reference}'s (dB), within ±2")
        axes[0, 1].axhline(0.0, color="black", linewidth=0.8)
        low, high = axes[0, 1].get_ylim()
        axes[0, 1].set_ylim(max(low, -2.0), min(high, 2.0))  # starts far behind would flatten the close ones
    last = max(step for curve in curves.values() for step in curve)
    for ax in axes[0]:
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlim(-0.5, 1.15 * last)
        ax.set_xlabel("refinement steps")
        ax.grid(True, alpha=0.3)
    axes[0, -1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small")
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def write_all(
    records: List[Dict], out: Path, reference: Optional[str], settings: Optional[Dict] = None, protocol: str = ""
) -> str:
    """Write results.json (with the run's `settings`), results.csv, table.md (headed by `protocol`, one line
    saying how views were split) and psnr_vs_steps.png; returns the table."""
    out.mkdir(parents=True, exist_ok=True)
    summary = {"settings": settings or {}, "records": records, "headline": headline(records, reference) if reference else {}}
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    with open(out / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    table = markdown_table(records, reference)
    if protocol:
        table = f"{protocol}\n\n{table}"
    (out / "table.md").write_text(table)
    plot(records, out / "psnr_vs_steps.png", reference)
    return table
