"""foresplat-compare: per-scene differences, statistics against scipy's paired tests, pooling, reach, errors."""

import json

import numpy as np
import pytest
from scipy import stats

from foresplat_ns.benchmark.compare import (
    CompareCommand, CompareError, compare, load_records, markdown, paired_differences, run, summarise,
)
from foresplat_ns.benchmark.report import interpolated_steps_to_reach

STEPS = [0, 10, 100]
SCENES = [f"scene_{i:04d}" for i in range(6)]


def synthetic(start, seed, shift):
    """Records of one start: PSNR grows with the step, a per-scene offset, plus `shift` after step 0."""
    rng = np.random.default_rng(seed)
    offsets = rng.normal(0.0, 1.0, (len(SCENES), len(STEPS)))
    return [{"scene": scene, "start": start, "step": step, "psnr": 15.0 + 0.05 * step + offsets[i, j] + (shift if step else 0.0),
             "ssim": 0.5, "num_gaussians": 100, "refine_seconds": 0.1} for i, scene in enumerate(SCENES) for j, step in enumerate(STEPS)]


def write(folder, records, starts):
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({"settings": {"starts": starts}, "records": records}))
    return folder


def test_differences_are_candidate_minus_base_per_scene():
    records = synthetic("a", 0, 0.0) + synthetic("b", 1, 0.5)
    diffs = paired_differences(records, "a", "b")
    value = {(r["start"], r["step"], r["scene"]): r["psnr"] for r in records}
    assert sorted(diffs) == STEPS
    for step in STEPS:
        assert sorted(diffs[step]) == SCENES
        for scene in SCENES:
            assert diffs[step][scene] == pytest.approx(value["b", step, scene] - value["a", step, scene])
    assert sorted(paired_differences(records, "a", "b", exclude=["scene_0003"])[10]) == SCENES[:3] + SCENES[4:]


def test_summary_matches_scipys_paired_tests():
    rng = np.random.default_rng(3)
    base, candidate = rng.normal(20, 1, 11), rng.normal(20.4, 1, 11)
    summary = summarise(candidate - base)
    expected = stats.ttest_rel(candidate, base)
    assert summary["t"] == pytest.approx(expected.statistic, rel=1e-10)
    assert summary["p_t"] == pytest.approx(expected.pvalue, rel=1e-8)
    assert summary["p_wilcoxon"] == pytest.approx(stats.wilcoxon(candidate, base).pvalue, rel=1e-10)
    assert summary["ahead"] == int((candidate > base).sum()) and summary["n"] == 11
    assert summary["median"] == pytest.approx(np.median(candidate - base))
    assert np.isnan(summarise([0.2])["t"])  # one scene: no spread, no statistic
    assert summarise(candidate - base, lower_is_better=True)["ahead"] == int((candidate < base).sum())


def test_lower_disparity_error_counts_as_ahead():
    records = [{"scene": s, "start": name, "step": 0, "psnr": 20.0, "disparity_error": error}
               for s, errors in zip(SCENES[:3], ((0.05, 0.04), (0.05, 0.06), (0.05, 0.03)))
               for name, error in zip(("a", "b"), errors)]
    summary = compare(records, [("a", "b")], key="disparity_error")["pairs"]["a:b"]["summary"]["0"]
    assert summary["ahead"] == 2 and summary["mean"] == pytest.approx(-0.02 / 3)


def test_pool_concatenates_the_pairs_scene_differences():
    records = synthetic("a1", 0, 0.0) + synthetic("b1", 1, 0.3) + synthetic("a2", 2, 0.0) + synthetic("b2", 3, 0.3)
    result = compare(records, [("a1", "b1"), ("a2", "b2")])
    for step in STEPS:
        both = list(paired_differences(records, "a1", "b1")[step].values()) + list(paired_differences(records, "a2", "b2")[step].values())
        assert result["pooled"][str(step)]["mean"] == pytest.approx(np.mean(both))
        assert result["pooled"][str(step)]["t"] == pytest.approx(stats.ttest_1samp(both, 0.0).statistic)


def test_across_pairs_tests_one_mean_difference_per_pair():
    shifts = (0.3, -0.1, 0.5)
    records = [r for k, shift in enumerate(shifts) for r in synthetic(f"a{k}", 2 * k, 0.0) + synthetic(f"b{k}", 2 * k + 1, shift)]
    result = compare(records, [(f"a{k}", f"b{k}") for k in range(len(shifts))])
    for step in STEPS:
        means = [np.mean([r["psnr"] for r in records if r["start"] == f"b{k}" and r["step"] == step])
                 - np.mean([r["psnr"] for r in records if r["start"] == f"a{k}" and r["step"] == step]) for k in range(len(shifts))]
        across = result["across_pairs"][str(step)]
        assert across["n"] == len(shifts) and across["mean"] == pytest.approx(np.mean(means))
        assert across["t"] == pytest.approx(stats.ttest_1samp(means, 0.0).statistic, rel=1e-9)
        assert across["p_t"] == pytest.approx(stats.ttest_1samp(means, 0.0).pvalue, rel=1e-8)
        assert across["ahead"] == sum(m > 0 for m in means)
    assert "across 3 pairs" in markdown(result)
    assert "across_pairs" not in compare(records, [("a0", "b0")])


def test_reach_counts_the_steps_to_the_bases_best():
    records = [{"scene": s, "start": name, "step": step, "psnr": psnr}
               for s in SCENES[:2]
               for name, curve in (("a", {0: 10.0, 10: 12.0, 100: 14.0}), ("b", {0: 11.0, 10: 14.5, 100: 15.0}))
               for step, psnr in curve.items()]
    reach = compare(records, [("a", "b")])["pairs"]["a:b"]["reach"]
    assert reach == {"base_best": 14.0, "base_steps": 100, "candidate_steps": 10, "ratio": 0.1,
                     "candidate_steps_interpolated": pytest.approx(0 + 10 * (14.0 - 11.0) / (14.5 - 11.0)),
                     "ratio_interpolated": pytest.approx(0.1 * 3.0 / 3.5)}


def test_pooled_reach_uses_the_pairs_curves_averaged_over_pairs():
    curves = {"a1": {0: 10.0, 10: 12.0, 100: 14.0}, "b1": {0: 11.0, 10: 14.5, 100: 15.0},
              "a2": {0: 10.0, 10: 13.0, 100: 13.5}, "b2": {0: 10.0, 10: 13.0, 100: 14.0}}
    records = [{"scene": s, "start": name, "step": step, "psnr": psnr}
               for s in SCENES[:3] for name, curve in curves.items() for step, psnr in curve.items()]
    result = compare(records, [("a1", "b1"), ("a2", "b2")])
    # Per pair: b1 reaches a1's 14.0 at 10 (a1 at 100); b2 reaches a2's 13.5 at 100 (a2 at 100).
    assert result["pairs"]["a2:b2"]["reach"]["ratio"] == 1.0
    # Averaged: bases {10, 12.5, 13.75}, candidates {10.5, 13.75, 14.5}; 13.75 at 100 against 10.
    pooled = result["pooled_reach"]
    assert pooled["base_best"] == pytest.approx(13.75) and pooled["base_steps"] == 100
    assert pooled["candidate_steps"] == 10 and pooled["ratio"] == pytest.approx(0.1)
    assert "the bases' mean curve's best 13.75 dB" in markdown(result)
    assert "pooled_reach" not in compare(records, [("a1", "b1")])


def test_interpolated_steps_follow_the_line_between_recorded_steps():
    curve = {0: 10.0, 100: 12.0, 250: 13.0, 500: 14.0}
    assert interpolated_steps_to_reach(curve, 10.0) == 0.0
    assert interpolated_steps_to_reach(curve, 11.5) == pytest.approx(75.0)
    assert interpolated_steps_to_reach(curve, 13.5) == pytest.approx(375.0)
    assert interpolated_steps_to_reach(curve, 14.0) == pytest.approx(500.0)
    assert interpolated_steps_to_reach(curve, 14.1) is None
    assert interpolated_steps_to_reach({0: 10.0, 10: 12.0, 20: 11.0, 30: 13.0}, 11.5) == pytest.approx(7.5)


def test_per_scene_table_lists_each_pairs_difference_and_the_sign_across_pairs():
    values = {("a1", "s0"): 20.0, ("b1", "s0"): 21.0, ("a1", "s1"): 18.0, ("b1", "s1"): 17.5,
              ("a2", "s0"): 19.0, ("b2", "s0"): 19.5, ("a2", "s2"): 16.0, ("b2", "s2"): 16.25}
    records = [{"scene": scene, "start": start, "step": step, "psnr": psnr + step / 100}
               for (start, scene), psnr in values.items() for step in (0, 100)]
    result = compare(records, [("a1", "b1"), ("a2", "b2")], scene_steps=[0, 100])
    for step in ("0", "100"):
        table = result["per_scene"][step]
        assert sorted(table) == ["s0", "s1", "s2"]
        assert table["s0"]["pairs"] == {"a1:b1": pytest.approx(1.0), "a2:b2": pytest.approx(0.5)}
        assert table["s0"]["mean"] == pytest.approx(0.75) and table["s0"]["ahead"] == 2 and table["s0"]["n"] == 2
        assert table["s1"] == {"pairs": {"a1:b1": pytest.approx(-0.5)}, "mean": pytest.approx(-0.5), "ahead": 0, "n": 1}
        assert table["s2"]["pairs"] == {"a2:b2": pytest.approx(0.25)} and table["s2"]["ahead"] == 1
    assert list(compare(records, [("a1", "b1")])["per_scene"]) == ["100"]  # default: the last step
    assert "| s1 | -0.50 | - | -0.50 | 0/1 |" in markdown(result)
    with pytest.raises(CompareError, match="not recorded by every pair"):
        compare(records, [("a1", "b1")], scene_steps=[50])


def test_command_merges_renamed_folders_and_writes_outputs(tmp_path):
    one = write(tmp_path / "one", synthetic("zero-step", 0, 0.0) + synthetic("metagrad", 1, 0.4), ["zero-step=r1", "metagrad=r2"])
    two = write(tmp_path / "two", synthetic("zero-step", 2, 0.0), ["zero-step=r3"])
    out = tmp_path / "out"
    result = run(CompareCommand(results=[str(one), f"{two}:zero-step=zs-b"], pairs=["zero-step:metagrad", "zs-b:metagrad"], out=out))
    assert set(result["pairs"]) == {"zero-step:metagrad", "zs-b:metagrad"} and "pooled" in result
    for name in ("compare.json", "compare.md", "paired_differences.png", "results.json", "table.md", "psnr_vs_steps.png"):
        assert (out / name).is_file(), name
    merged = json.loads((out / "results.json").read_text())
    assert {r["start"] for r in merged["records"]} == {"zero-step", "metagrad", "zs-b"}
    assert merged["settings"]["starts"] == ["zero-step=r1", "metagrad=r2", "zs-b=r3"]


def test_one_start_spans_folders_of_different_scenes(tmp_path):
    records = synthetic("zero-step", 0, 0.0) + synthetic("metagrad", 1, 0.4)
    first, second = SCENES[:4], SCENES[4:]
    one = write(tmp_path / "one", [r for r in records if r["scene"] in first], ["zero-step=r1", "metagrad=r2"])
    two = write(tmp_path / "two", [r for r in records if r["scene"] in second], ["zero-step=r1", "metagrad=r2"])
    merged, settings = load_records([str(one), str(two)])
    assert settings["starts"] == ["zero-step=r1", "metagrad=r2"]
    assert paired_differences(merged, "zero-step", "metagrad") == paired_differences(records, "zero-step", "metagrad")
    with pytest.raises(CompareError, match="scene_0000 at step 0 in both"):
        load_records([str(one), str(two), str(write(tmp_path / "three", records, []))])


def test_bad_input_gets_one_line_errors(tmp_path):
    folder = write(tmp_path / "one", synthetic("a", 0, 0.0) + synthetic("b", 1, 0.0), [])
    with pytest.raises(CompareError, match="not found"):
        load_records([str(tmp_path / "missing")])
    with pytest.raises(CompareError, match="in both"):
        load_records([str(folder), str(folder)])
    records, _ = load_records([str(folder)])
    with pytest.raises(CompareError, match="starts found: a, b"):
        paired_differences(records, "a", "c")
    other = [dict(r, scene="elsewhere", start="c") for r in records if r["start"] == "b"]
    with pytest.raises(CompareError, match="share no scene"):
        paired_differences(records + other, "a", "c")
    with pytest.raises(CompareError, match="BASE:CANDIDATE"):
        run(CompareCommand(results=[str(folder)], pairs=["a-b"]))
