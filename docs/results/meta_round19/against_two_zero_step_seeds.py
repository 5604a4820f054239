"""Each round-19 start minus the per-scene mean of the two zero-step seeds (150 and 151), from this folder's records.

python docs/results/meta_round19/against_two_zero_step_seeds.py  (prints the table rows of docs/results/ROUNDS.md; Wilcoxon p over 16 scenes)
"""
import json
from pathlib import Path

import numpy as np
from scipy.stats import wilcoxon

HERE = Path(__file__).parent


def load(folder: str, start: str) -> dict:
    """(scene, step) -> PSNR of one start in one merged foresplat-compare folder."""
    records = json.loads((HERE / folder / "results.json").read_text())["records"]
    return {(r["scene"], r["step"]): r["psnr"] for r in records if r["start"] == start}


base = [load("metagrad_25x", "zs150"), load("metagrad_25x", "zs151")]
arms = {
    "zero-step, seed 150": load("metagrad_25x", "zs150"),
    "zero-step, seed 151": load("metagrad_25x", "zs151"),
    "MetaGrad K=30 at 2.5x, seed 150": load("metagrad_25x", "mg25x150"),
    "MetaGrad K=30 at 2.5x, seed 151": load("metagrad_25x", "mg25x151"),
    "MetaGrad K=15 at 5x, seed 150": load("variants", "mg15x5"),
    "MetaGrad K=15 at 5x, seed 151": load("metagrad_15x5", "mg15x151"),
    "IFT cheap solve, seed 150": load("variants", "iftcheap"),
}
for name, cand in arms.items():
    cells = []
    for step in (0, 25, 100, 500):
        scenes = sorted(s for s, t in cand if t == step)
        diff = np.array([cand[s, step] - 0.5 * (base[0][s, step] + base[1][s, step]) for s in scenes])
        cells.append(f"{diff.mean():+.2f} ({(diff > 0).sum()}, p {wilcoxon(diff).pvalue:.3f})")
    print(f"| {name} | " + " | ".join(cells) + " |")
