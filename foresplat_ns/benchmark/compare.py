"""`foresplat-compare`: paired, per-scene comparison of starts across `foresplat-bench` outputs.

Two starts benchmarked on the same scenes form a pair (base, candidate); at every refinement step each
scene gives one difference candidate - base. Pairs from several runs (different data seeds, say) pool
their scene differences. For each pair and for the pool this reports the mean and median difference,
on how many scenes the candidate is ahead, a paired t statistic with its two-sided p-value, Wilcoxon's
signed-rank p-value (robust to one scene far off), and the steps the candidate needs to reach the
base's best mean, against the steps the base needs. A per-scene table at chosen steps shows which
scenes carry a mean and whether a scene's sign holds across pairs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Literal, Optional, Sequence, Tuple

import numpy as np
import tyro
from rich.console import Console
from rich.table import Table

from foresplat_ns.benchmark.report import interpolated_steps_to_reach, mean_curves, steps_to_reach, write_all

CONSOLE = Console()


#: Figures where the candidate is ahead when its value is lower.
LOWER_IS_BETTER = ("disparity_error",)


def count_ahead(differences: Sequence[float], lower_is_better: bool = False) -> int:
    """Scenes where the candidate is ahead: difference > 0, or < 0 when lower is better."""
    d = np.asarray(differences, dtype=np.float64)
    return int((d < 0).sum() if lower_is_better else (d > 0).sum())


class CompareError(ValueError):
    """Bad input to the comparison: a missing results file, an unknown start, no common scenes."""


@dataclass
class CompareCommand:
    """Paired per-scene differences between starts of one or more `foresplat-bench` outputs."""

    results: List[str]
    """Benchmark output folders (each with results.json), optionally renaming starts: DIR:old=new,old2=new2.
    One start may span folders benchmarked on different scenes (its records merge); the same start, scene and
    step in two folders is an error."""
    pairs: List[str]
    """Pairs to compare, BASE:CANDIDATE (start names after renaming); differences are candidate - base."""
    key: Literal["psnr", "ssim", "disparity_error"] = "psnr"
    """Per-scene figure to compare: psnr, ssim or disparity_error (for the last, lower is better: a candidate
    is ahead on a scene where its error is lower)."""
    exclude_scenes: List[str] = field(default_factory=list)
    """Scenes left out of every pair (to see how much one scene carries the mean)."""
    out: Optional[Path] = None
    """Output folder: compare.json, compare.md, paired_differences.png, and the merged benchmark tables
    (results.json/csv, table.md, psnr_vs_steps.png). None: print only."""
    reference: Optional[str] = None
    """Reference start of the merged table's 'steps to reach' (default: the first pair's base)."""
    scene_steps: List[int] = field(default_factory=list)
    """Steps at which to list every scene's difference in every pair, with the scene's mean over pairs and
    the pairs where the candidate is ahead (empty: the last common step)."""


def load_records(specs: Sequence[str]) -> Tuple[List[Dict], Dict]:
    """Records of several benchmark outputs, starts renamed by each spec's `:old=new,...` suffix; also the
    first output's settings with every renamed start listed."""
    records: List[Dict] = []
    settings: Optional[Dict] = None
    owners: Dict[Tuple[str, str, int], Tuple[int, str]] = {}
    for index, spec in enumerate(specs):
        folder, _, names = spec.partition(":")
        try:
            rename = dict(item.split("=", 1) for item in names.split(",") if item)
        except ValueError:
            raise CompareError(f"bad renaming in '{spec}': write DIR:old=new,old2=new2") from None
        path = Path(folder) / "results.json"
        if not path.is_file():
            raise CompareError(f"{path} not found: pass folders written by foresplat-bench --out")
        try:
            data = json.loads(path.read_text())
            found = data["records"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise CompareError(f"{path} is not a foresplat-bench results file (no records)") from None
        for r in found:
            name = rename.get(r["start"], r["start"])
            owner = owners.setdefault((name, r["scene"], r["step"]), (index, folder))
            if owner[0] != index:
                raise CompareError(
                    f"start '{name}' has {r['scene']} at step {r['step']} in both {owner[1]} and {folder}: "
                    f"rename one with {folder}:{r['start']}=NEW"
                )
        records += [dict(r, start=rename.get(r["start"], r["start"])) for r in found]
        if settings is None:
            settings = dict(data.get("settings", {}), starts=[])
        for start in data.get("settings", {}).get("starts", []):
            name, _, run = start.partition("=")
            listed = f"{rename.get(name, name)}={run}" if run else rename.get(name, name)
            if listed not in settings["starts"]:
                settings["starts"].append(listed)
    return records, settings or {}


def paired_differences(
    records: List[Dict], base: str, candidate: str, key: str = "psnr", exclude: Sequence[str] = ()
) -> Dict[int, Dict[str, float]]:
    """Per step, per scene: candidate's `key` minus base's, over the scenes and steps both have."""
    table: Dict[str, Dict[int, Dict[str, float]]] = {base: {}, candidate: {}}
    for r in records:
        if r["start"] in table and r["scene"] not in exclude and r.get(key) is not None:
            table[r["start"]].setdefault(r["step"], {})[r["scene"]] = float(r[key])
    known = sorted({r["start"] for r in records})
    for name in (base, candidate):
        if not table[name]:
            raise CompareError(f"no '{key}' records for start '{name}'; starts found: {', '.join(known)}")
    diffs: Dict[int, Dict[str, float]] = {}
    for step in sorted(set(table[base]) & set(table[candidate])):
        scenes = sorted(set(table[base][step]) & set(table[candidate][step]))
        if scenes:
            diffs[step] = {s: table[candidate][step][s] - table[base][step][s] for s in scenes}
    if not diffs:
        raise CompareError(f"'{base}' and '{candidate}' share no scene at any step: were they benchmarked on the same scenes?")
    return diffs


def summarise(differences: Sequence[float], lower_is_better: bool = False) -> Dict[str, float]:
    """Mean, median, count ahead (difference > 0, or < 0 when lower is better), paired t (mean over its
    standard error) with its two-sided p-value, and Wilcoxon's signed-rank p-value, of per-scene differences."""
    from scipy import stats

    d = np.asarray(differences, dtype=np.float64)
    n = d.size
    sd = float(d.std(ddof=1)) if n > 1 else float("nan")
    if n > 1 and sd > 0:
        t = float(d.mean() / (sd / math.sqrt(n)))
        p_t = float(2.0 * stats.t.sf(abs(t), df=n - 1))
    else:
        t, p_t = float("nan"), float("nan")
    p_w = float(stats.wilcoxon(d).pvalue) if n > 1 and np.any(d != 0) else float("nan")
    return {"n": n, "mean": float(d.mean()), "median": float(np.median(d)), "ahead": count_ahead(d, lower_is_better),
            "t": t, "p_t": p_t, "p_wilcoxon": p_w}


def pair_curves(
    records: List[Dict], base: str, candidate: str, diffs: Dict[int, Dict[str, float]]
) -> Tuple[Dict[int, float], Dict[int, float]]:
    """Mean PSNR curves of base and candidate over the scenes both share, at the steps of their PSNR `diffs`."""
    scenes = set.intersection(*(set(v) for v in diffs.values()))
    kept = [r for r in records if r["start"] in (base, candidate) and r["scene"] in scenes and r["step"] in diffs]
    curves = mean_curves(kept)
    return curves[base], curves[candidate]


def reach_of_curves(base: Dict[int, float], candidate: Dict[int, float]) -> Dict[str, Optional[float]]:
    """Base's best value, the first recorded steps at which base and candidate reach it, and their ratio (the
    half-steps criterion asks for at most 0.5); also the candidate's steps with its curve linear between
    recorded steps, and that ratio."""
    best = max(base.values())
    base_steps, candidate_steps = steps_to_reach(base, best), steps_to_reach(candidate, best)
    ratio = None if candidate_steps is None or not base_steps else candidate_steps / base_steps
    between = interpolated_steps_to_reach(candidate, best)
    return {"base_best": best, "base_steps": base_steps, "candidate_steps": candidate_steps, "ratio": ratio,
            "candidate_steps_interpolated": between,
            "ratio_interpolated": None if between is None or not base_steps else between / base_steps}


def reach(
    records: List[Dict], base: str, candidate: str, diffs: Dict[int, Dict[str, float]]
) -> Dict[str, Optional[float]]:
    """`reach_of_curves` of one pair's mean PSNR curves over the scenes both starts share."""
    return reach_of_curves(*pair_curves(records, base, candidate, diffs))


def pooled_reach(curves: Sequence[Tuple[Dict[int, float], Dict[int, float]]], steps: Sequence[int]) -> Dict[str, Optional[float]]:
    """`reach_of_curves` of the pairs' mean curves averaged over pairs (each pair weighs the same), at `steps`:
    the half-steps criterion on the seeds' mean curve rather than per seed."""
    base = {s: float(np.mean([b[s] for b, _ in curves])) for s in steps}
    candidate = {s: float(np.mean([c[s] for _, c in curves])) for s in steps}
    return reach_of_curves(base, candidate)


def compare(
    records: List[Dict], pairs: Sequence[Tuple[str, str]], key: str = "psnr", exclude: Sequence[str] = (),
    scene_steps: Sequence[int] = (),
) -> Dict:
    """Summaries per pair, pooled over pairs (every scene difference of every pair), and across pairs (one mean
    difference per pair: when pairs are training seeds, each seed is one replicate, so the test sees how far
    seeds disagree, which pooling the scenes hides), per step (steps every pair has); per scene at `scene_steps`
    (default: the last common step)."""
    per_pair = {f"{b}:{c}": paired_differences(records, b, c, key, exclude) for b, c in pairs}
    steps = sorted(set.intersection(*(set(d) for d in per_pair.values())))
    lower = key in LOWER_IS_BETTER
    result: Dict = {"key": key, "excluded": list(exclude), "steps": steps, "pairs": {}}
    for (b, c), (name, diffs) in zip(pairs, per_pair.items()):
        result["pairs"][name] = {
            "differences": {str(s): diffs[s] for s in steps},
            "summary": {str(s): summarise(list(diffs[s].values()), lower) for s in steps},
            "reach": reach(records, b, c, diffs) if key == "psnr" else None,
        }
    if len(pairs) > 1:
        if key == "psnr":
            curves = [pair_curves(records, b, c, diffs) for (b, c), diffs in zip(pairs, per_pair.values())]
            result["pooled_reach"] = pooled_reach(curves, steps)
        result["pooled"] = {str(s): summarise([v for d in per_pair.values() for v in d[s].values()], lower) for s in steps}
        result["across_pairs"] = {str(s): summarise([pair["summary"][str(s)]["mean"] for pair in result["pairs"].values()], lower)
                                  for s in steps}
    unknown = sorted(set(scene_steps) - set(steps))
    if unknown:
        raise CompareError(f"--scene-steps {unknown} not recorded by every pair; steps in common: {steps}")
    result["per_scene"] = {str(s): per_scene(per_pair, s, lower) for s in (scene_steps or steps[-1:])}
    return result


def per_scene(per_pair: Dict[str, Dict[int, Dict[str, float]]], step: int, lower_is_better: bool = False) -> Dict[str, Dict]:
    """Per scene at one step: its difference in each pair that has it, the mean over those pairs, and in how
    many of them the candidate is ahead."""
    scenes = sorted({scene for diffs in per_pair.values() for scene in diffs[step]})
    rows = {}
    for scene in scenes:
        values = {name: diffs[step][scene] for name, diffs in per_pair.items() if scene in diffs[step]}
        rows[scene] = {"pairs": values, "mean": float(np.mean(list(values.values()))),
                       "ahead": count_ahead(list(values.values()), lower_is_better), "n": len(values)}
    return rows


def per_scene_rows(result: Dict, step: str, labels: Optional[Sequence[str]] = None) -> Tuple[List[str], List[List[str]]]:
    """Header and rows (scene, each pair's difference, mean, ahead) of the per-scene table at one step; pair
    columns are headed by `labels` (default: the pairs' names)."""
    names = list(result["pairs"])
    header = ["scene"] + list(labels or names) + ["mean", "ahead"]
    rows = [[scene] + [_fmt(row["pairs"].get(name), "+.2f") for name in names]
            + [_fmt(row["mean"], "+.2f"), f"{row['ahead']}/{row['n']}"]
            for scene, row in result["per_scene"][step].items()]
    return header, rows


def _fmt(x: Optional[float], spec: str) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def summary_rows(summary: Dict[str, Dict]) -> List[List[str]]:
    """Table rows (step, mean, median, ahead, t, p, Wilcoxon p) of one pair's or the pool's summary."""
    return [[step, _fmt(s["mean"], "+.3f"), _fmt(s["median"], "+.3f"), f"{s['ahead']}/{s['n']}", _fmt(s["t"], ".2f"),
             _fmt(s["p_t"], ".3f"), _fmt(s["p_wilcoxon"], ".3f")] for step, s in summary.items()]


HEADER = ["step", "mean", "median", "ahead", "paired t", "p (t)", "p (Wilcoxon)"]


def _blocks(result: Dict) -> List[Tuple[str, Dict, Optional[Dict]]]:
    """(title, per-step summary, reach or None) of every pair, then of the pool."""
    blocks = [(name, pair["summary"], pair["reach"]) for name, pair in result["pairs"].items()]
    if "pooled" in result:
        blocks.append((f"pooled over {len(result['pairs'])} pairs", result["pooled"], result.get("pooled_reach")))
    if "across_pairs" in result:
        blocks.append((f"across {len(result['pairs'])} pairs (one mean difference per pair; ahead: pairs)",
                       result["across_pairs"], None))
    return blocks


def markdown(result: Dict) -> str:
    """The comparison as markdown: one table per pair, then the pool."""
    excluded = f", without {', '.join(result['excluded'])}" if result["excluded"] else ""
    lines = [f"Per-scene differences of target-view {result['key']} (candidate - base){excluded}.", ""]
    for name, summary, reached in _blocks(result):
        lines += [f"**{name}**", ""] + _markdown_table(HEADER, summary_rows(summary))
        if reached:
            lines += ["", _reach_text(name, reached)]
        lines.append("")
    for step in result["per_scene"]:
        lines += [f"**Per scene at step {step}**", ""] + _markdown_table(*per_scene_rows(result, step)) + [""]
    return "\n".join(lines)


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> List[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(row) + " |" for row in rows]


def _reach_text(name: str, reached: Dict) -> str:
    """One line on a pair's reach, or (a name without a colon) on the pool's curves averaged over pairs."""
    pooled = ":" not in name
    base, candidate = ("the bases' mean curve", "the candidates'") if pooled else name.split(":")
    got = "never" if reached["candidate_steps"] is None else f"at step {reached['candidate_steps']}"
    ratio = "" if reached["ratio"] is None else f" (ratio {reached['ratio']:.2f})"
    between = reached["candidate_steps_interpolated"]
    linear = "" if between is None else (f"; linear between recorded steps at step {between:.0f}"
                                         f" (ratio {reached['ratio_interpolated']:.2f})")
    best = "best" if pooled else "best mean PSNR"
    return (f"{base}'s {best} {reached['base_best']:.2f} dB, reached by {base} at step "
            f"{reached['base_steps']}, by {candidate} {got}{ratio}{linear}.")


def plot(result: Dict, path: Path) -> None:
    """Per-scene differences at each step, one column of dots per pair, with each pair's mean as a line
    (and the pooled mean as a thick black line)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = result["steps"]
    names = list(result["pairs"])
    fig, ax = plt.subplots(figsize=(8.0 + 0.4 * len(names), 4.6), dpi=120)
    width = 0.7 / max(len(names), 1)
    for index, name in enumerate(names):
        pair = result["pairs"][name]
        offset = (index - (len(names) - 1) / 2) * width
        for position, step in enumerate(steps):
            values = list(pair["differences"][str(step)].values())
            ax.scatter(np.full(len(values), position + offset), values, s=12, alpha=0.6, color=f"C{index}",
                       label=name if position == 0 else None)
        means = [pair["summary"][str(s)]["mean"] for s in steps]
        ax.plot(np.arange(len(steps)) + offset, means, color=f"C{index}", linewidth=1.2)
    if "pooled" in result:
        pooled = [result["pooled"][str(s)]["mean"] for s in steps]
        ax.plot(range(len(steps)), pooled, color="black", linewidth=2.2, label=f"mean over {len(names)} pairs")
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(steps)), [str(s) for s in steps])
    ax.set_xlabel("refinement steps")
    ax.set_ylabel(f"{result['key']}: candidate - base, per scene")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small")
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def protocol_line(spec: str) -> str:
    """The protocol paragraph heading a benchmark output's table.md, on one line ('' if none)."""
    path = Path(spec.partition(":")[0]) / "table.md"
    first = path.read_text().split("\n\n")[0] if path.is_file() else ""
    return first.replace("\n", " ") if first.startswith("Protocol") else ""


def parse_pairs(items: Sequence[str]) -> List[Tuple[str, str]]:
    """BASE:CANDIDATE strings to tuples."""
    pairs = []
    for item in items:
        base, sep, candidate = item.partition(":")
        if not sep or not base or not candidate:
            raise CompareError(f"bad pair '{item}': write BASE:CANDIDATE with start names")
        pairs.append((base, candidate))
    return pairs


def run(cmd: CompareCommand) -> Dict:
    """Load, compare, print; with `out`, write every output."""
    records, settings = load_records(cmd.results)
    pairs = parse_pairs(cmd.pairs)
    result = compare(records, pairs, cmd.key, cmd.exclude_scenes, cmd.scene_steps)
    for name, summary, reached in _blocks(result):
        table = Table(title=f"{cmd.key}: {name}", title_justify="left")
        for column in HEADER:
            table.add_column(column, justify="right")
        for row in summary_rows(summary):
            table.add_row(*row)
        CONSOLE.print(table)
        if reached:
            CONSOLE.print(_reach_text(name, reached))
    legend = ", ".join(f"#{i + 1} {name}" for i, name in enumerate(result["pairs"]))
    for step in result["per_scene"]:
        # Pairs are numbered in the console so that the table fits a terminal; markdown names them.
        header, rows = per_scene_rows(result, step, [f"#{i + 1}" for i in range(len(result["pairs"]))])
        table = Table(title=f"{cmd.key} per scene at step {step}", title_justify="left", caption=legend, caption_justify="left")
        for column in header:
            table.add_column(column, justify="left" if column == "scene" else "right", no_wrap=True)
        for row in rows:
            table.add_row(*row)
        CONSOLE.print(table)
    if cmd.out is not None:
        cmd.out.mkdir(parents=True, exist_ok=True)
        (cmd.out / "compare.json").write_text(json.dumps(result, indent=1))
        (cmd.out / "compare.md").write_text(markdown(result))
        plot(result, cmd.out / "paired_differences.png")
        names = {n for pair in pairs for n in pair}
        kept = [r for r in records if r["start"] in names]
        settings = dict(settings, out=str(cmd.out), starts=[s for s in settings.get("starts", []) if s.split("=")[0] in names])
        write_all(kept, cmd.out, cmd.reference or pairs[0][0], settings, protocol_line(cmd.results[0]))
        CONSOLE.print(f"wrote {cmd.out}/compare.md, compare.json, paired_differences.png and the merged tables")
    return result


def entrypoint() -> None:
    """Console entry point."""
    cmd = tyro.cli(CompareCommand)
    try:
        run(cmd)
    except CompareError as error:
        CONSOLE.print(f"[bold red]foresplat-compare: {error}")
        raise SystemExit(1) from None


if __name__ == "__main__":
    entrypoint()
