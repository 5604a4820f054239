"""Round 22: the same ten networks as round 21 (five seeds each of zero-step and MetaGrad K=30 at 2.5x), refined
from their predictions with and without the view-count opacity correction (they saw 4 views per training step,
the benchmark gives them 8). Reads `corrected/results.json` (merged by foresplat-compare) and round 21's
`metagrad_5seeds/results.json` (uncorrected), and prints the tables of docs/results/ROUNDS.md.

python docs/results/meta_round22/correction.py
"""
import json
from pathlib import Path

import numpy as np
from scipy import stats

HERE = Path(__file__).parent
SEEDS = (150, 151, 152, 153, 154)
STEPS = (0, 25, 100)
METHODS = {"zero-step": "zs", "MetaGrad K=30 at 2.5x": "mg"}


def table(path: Path):
    records = json.loads(path.read_text())["records"]
    return {(r["start"], r["scene"], r["step"]): r["psnr"] for r in records}, sorted({r["scene"] for r in records})


corrected, scenes = table(HERE / "corrected" / "results.json")
plain, plain_scenes = table(HERE.parent / "meta_round21" / "metagrad_5seeds" / "results.json")
assert scenes == plain_scenes, "both benchmarks must cover the same scenes"


def p_text(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def seed_means(psnr, prefix):
    """(seeds, steps): each seed's mean over the scenes."""
    return np.array([[np.mean([psnr[f"{prefix}{s}", sc, t] for sc in scenes]) for t in STEPS] for s in SEEDS])


print(f"{len(scenes)} scenes, seeds {SEEDS}, steps {STEPS}\n")
print("| network | " + " | ".join(f"{t}: plain → corrected (gain)" for t in STEPS) + " |\n|---|" + "---|" * len(STEPS))
means = {}
for method, prefix in METHODS.items():
    before, after = seed_means(plain, prefix), seed_means(corrected, prefix)
    means[method] = (before, after)
    for s, b, a in zip(SEEDS, before, after):
        print(f"| {method}, seed {s} | " + " | ".join(f"{x:.2f} → {y:.2f} ({y - x:+.2f})" for x, y in zip(b, a)) + " |")
    gain = after - before
    print(f"| {method}, mean gain ± sd over seeds | " + " | ".join(f"{g:+.2f} ± {s:.2f}" for g, s in zip(gain.mean(0), gain.std(0, ddof=1))) + " |")

# Per scene: does the correction help every scene, or a few?
for method, prefix in METHODS.items():
    cells = []
    for t in STEPS:
        d = np.array([np.mean([corrected[f"{prefix}{s}", sc, t] - plain[f"{prefix}{s}", sc, t] for s in SEEDS]) for sc in scenes])
        cells.append(f"{d.mean():+.2f} ({(d > 0).sum()}/{len(d)} scenes gain, Wilcoxon p {p_text(stats.wilcoxon(d).pvalue)})")
    print(f"| {method}, per scene (mean over seeds) | " + " | ".join(cells) + " |")

print("\n| MetaGrad minus zero-step, across the 5 seed pairs | " + " | ".join(map(str, STEPS)) + " |\n|---|" + "---|" * len(STEPS))
for label, index in (("neither corrected", 0), ("both corrected", 1)):
    zs, mg = means["zero-step"][index], means["MetaGrad K=30 at 2.5x"][index]
    d = mg - zs
    tests = [stats.ttest_1samp(d[:, j], 0.0) for j in range(len(STEPS))]
    print(f"| {label} (pairs ahead, paired t p) | "
          + " | ".join(f"{d[:, j].mean():+.2f} ({(d[:, j] > 0).sum()}/{len(SEEDS)}, p {p_text(w.pvalue)})" for j, w in enumerate(tests)) + " |")
