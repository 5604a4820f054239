"""Four training seeds per method from one common start: each seed's mean over the 16 held-out scenes is one
replicate. Reads `metagrad_4seeds/results.json` (merged by foresplat-compare) and prints the tables of docs/results/ROUNDS.md;
given another merged results.json and its seeds, the same tables for those (round 21: five seeds).

python docs/results/meta_round20/seeds.py [RESULTS_JSON SEED ...]
"""
import json
import sys
from pathlib import Path

import numpy as np
from scipy import stats

from foresplat_ns.benchmark.report import interpolated_steps_to_reach

HERE = Path(__file__).parent
RESULTS = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "metagrad_4seeds" / "results.json"
SEEDS = tuple(int(s) for s in sys.argv[2:]) or (150, 151, 152, 153)
METHODS = {"zero-step": "zs", "MetaGrad K=30 at 2.5x": "mg"}
STEPS = (0, 25, 100, 500)

records = json.loads(RESULTS.read_text())["records"]
scenes = sorted({r["scene"] for r in records})
psnr = {(r["start"], r["scene"], r["step"]): r["psnr"] for r in records}
# seed means: method -> array (seeds, steps), each the mean over the scenes
means = {m: np.array([[np.mean([psnr[f"{p}{s}", sc, t] for sc in scenes]) for t in STEPS] for s in SEEDS])
         for m, p in METHODS.items()}

print(f"{len(scenes)} scenes, seeds {SEEDS}\n")
print("| start | " + " | ".join(map(str, STEPS)) + " |\n|---|" + "---|" * len(STEPS))
for m, values in means.items():
    for s, row in zip(SEEDS, values):
        print(f"| {m}, seed {s} | " + " | ".join(f"{v:.2f}" for v in row) + " |")
    print(f"| {m}, mean ± sd over seeds | " + " | ".join(f"{a:.2f} ± {b:.2f}" for a, b in zip(values.mean(0), values.std(0, ddof=1))) + " |")

zs, mg = means["zero-step"], means["MetaGrad K=30 at 2.5x"]
print("\n| MetaGrad minus zero-step | " + " | ".join(map(str, STEPS)) + " |\n|---|" + "---|" * len(STEPS))
welch = [stats.ttest_ind(mg[:, j], zs[:, j], equal_var=False) for j in range(len(STEPS))]
print(f"| difference of the seed means (Welch p, {len(SEEDS)} + {len(SEEDS)} seeds) | "
      + " | ".join(f"{mg[:, j].mean() - zs[:, j].mean():+.2f} (p {w.pvalue:.2f})" for j, w in enumerate(welch)) + " |")
se = np.sqrt(zs.var(0, ddof=1) / len(SEEDS) + mg.var(0, ddof=1) / len(SEEDS))
print("| its standard error | " + " | ".join(f"{v:.2f}" for v in se) + " |")
# per scene, each method averaged over its seeds: seed noise averages out, scenes are the replicates
cells = []
for t in STEPS:
    d = np.array([np.mean([psnr[f"mg{s}", sc, t] for s in SEEDS]) - np.mean([psnr[f"zs{s}", sc, t] for s in SEEDS]) for sc in scenes])
    cells.append(f"{d.mean():+.2f} ({(d > 0).sum()}/{len(d)}, p {stats.wilcoxon(d).pvalue:.3f})")
print("| per scene, each method's mean over its seeds (ahead, Wilcoxon p) | " + " | ".join(cells) + " |")

best = zs[:, -1].mean()
curve = dict(zip(STEPS, mg.mean(0)))
reached = interpolated_steps_to_reach(curve, best)
print(f"\nzero-step's best, mean over seeds: {best:.2f} dB at step {STEPS[-1]}; MetaGrad's mean curve reaches it at "
      + ("never" if reached is None else f"step {reached:.0f} (ratio {reached / STEPS[-1]:.2f}, linear between recorded steps)"))
