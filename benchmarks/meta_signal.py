"""What a meta-step teaches the network: its gradient's parts, measured on the network's weights.

For a run trained with MetaGrad or IFT, on batches drawn as its training draws them and with its own meta-training
settings, this prints each part of a meta-step's gradient on the network's weights: its norm, its cosine with the
step's whole gradient and with the step-0 anchor (the zero-step gradient, which zero-step training follows alone).

A MetaGrad step (`--pipeline.meta.mode metagrad`) hands the network w0·∇L(θ0) and Σ w_s ∇L_out(θ_s) over the
refined anchor states. An IFT step (`--pipeline.meta.mode ift`) hands the network three parts: w0·∇L(θ0) (the step-0 anchor),
(1 − w0)·Λu (the implicit gradient at the refined θ*) and, through the confidence, (1 − w0)·Σ ∂L/∂λ · ∂λ/∂φ;
beside them is printed what MetaGrad's first-order anchor at the same θ* would hand over, (1 − w0)·∇L_out(θ*),
and per parameter group |Λu| / |∇L_out(θ*)|: how much of the target gradient the implicit gradient lets through
to the prediction. Usage:

    python benchmarks/meta_signal.py --run RUN [--settings NAME=RUN ...] [--scenes DIR] [--num-steps 16]

With `--settings`, other runs' meta-training settings are measured on --run's network (say, MetaGrad's and IFT's
on the zero-step network both were fine-tuned from), and the script prints how far their steps agree where they
depart from the zero-step gradient.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch
import tyro
from torch import Tensor, nn

from foresplat_ns.data.builtin import builtin_scenes
from foresplat_ns.data.scene_batch import SceneBatch, sample_batch
from foresplat_ns.data.scene_folder import find_scenes, load_scene
from foresplat_ns.meta.ift import hypergradient
from foresplat_ns.meta.linear_solve import cosine
from foresplat_ns.meta.normalise import Normalisation
from foresplat_ns.meta.proximal import proximal_weights
from foresplat_ns.meta.step import MetaConfig, metagrad, outer_gradient, proximal_problem, surrogate_loss, training_background
from foresplat_ns.models.checkpoints import CheckpointError, _run_config, load_initializer, resolve_checkpoint

PARTS = {"ift": ("step-0 anchor", "implicit Λu", "through λ"), "metagrad": ("step-0 anchor", "refined anchors")}
REFERENCE = "first-order ∇L(θ*)"


@dataclass
class Signal:
    """Parts of a meta-trained run's meta-gradient on its network's weights."""

    run: Path
    """A `ns-train foresplat` run (folder or checkpoint): the network whose gradients are measured."""
    settings: List[str] = field(default_factory=list)
    """`NAME=RUN` or `RUN`: MetaGrad or IFT runs whose meta-training settings are applied to --run's network, on the
    same batches; with two or more, also the cosines between where their steps depart from the zero-step gradient.
    A learned λ comes from --run's confidence head as it is. Empty: --run's own settings."""
    fixed_lambda: Optional[float] = None
    """Give every IFT setting this fixed λ (before its group scales) instead of its own range."""
    horizon: Optional[bool] = None
    """Give every IFT setting this --pipeline.meta.ift.horizon (the K steps' own proximal weight in the solve)
    instead of its own."""
    scenes: Optional[Path] = None
    """Folder of scenes whose train/ split batches are drawn from; default: the run's own --data."""
    num_scenes: int = 16
    """Scenes loaded (the first ones of the split); batches are drawn among them."""
    num_steps: int = 16
    """Meta-steps measured, each on a batch drawn as training step `first_step + i` draws it."""
    first_step: int = 100000
    """Step number of the first batch (seeds the batch, the inner loop's view order and the background)."""
    threads: int = 1
    """torch CPU threads."""


def _flat_grad(loss: Tensor, params: List[nn.Parameter]) -> Tensor:
    """∂loss/∂params as one vector (zeros where the loss does not reach)."""
    if not loss.requires_grad:
        return torch.zeros(sum(p.numel() for p in params))
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for g, p in zip(grads, params)])


def signal_parts(net: nn.Module, config: MetaConfig, batch: SceneBatch, step: int) -> Dict[str, object]:
    """The parts of one meta-step's gradient on `net`'s weights, as `meta_step` computes them together.

    Returns {"weights": {part: vector}, "passed": {group: |Λu| / |∇L_out(θ*)|} (IFT; else empty), "residual": CG's
    relative residual (IFT; else None)}.
    """
    prediction = net(batch.context_images, batch.context_cameras, batch.near, batch.far)
    norm = Normalisation.of_batch(batch)
    theta0 = norm.gaussians(prediction)
    nb = norm.batch(batch)
    background = training_background(config, step, theta0.means.device)
    fixed = theta0.detach()
    params = [p for p in net.parameters() if p.requires_grad]
    zero, _ = outer_gradient(fixed, nb, config, background, targets_only=False)
    w0 = config.step0_weight if config.step0_anchor else 0.0
    anchor0 = {k: w0 * g for k, g in zero.items()}
    if config.mode == "metagrad":
        total, _ = metagrad(config, fixed, nb, step)
        losses = {
            "step-0 anchor": surrogate_loss(theta0, anchor0),
            "refined anchors": surrogate_loss(theta0, {k: g - anchor0[k] for k, g in total.items()}),
        }
        return {"weights": {name: _flat_grad(loss, params) for name, loss in losses.items()}, "passed": {}, "residual": None}
    if config.mode != "ift":
        raise ValueError(f"meta_signal: a {config.mode} run has no meta-step: pass a MetaGrad or IFT run")
    if config.ift.first_order_anchors:
        raise ValueError("meta_signal: IFT with --pipeline.meta.ift.first-order-anchors is not split into parts; pass another run")
    weights = proximal_weights(prediction.confidence, config.ift)
    problem = proximal_problem(config, fixed, weights, nb, step, background)
    result = hypergradient(
        problem.hessian, problem.outer_grad, weights, problem.theta_star, fixed.params(), config.ift, problem.diagonal,
        horizon=problem.horizon,
    )
    losses = {
        "step-0 anchor": surrogate_loss(theta0, anchor0),
        "implicit Λu": surrogate_loss(theta0, {k: (1 - w0) * g for k, g in result.theta0.items()}),
        "through λ": sum(((1 - w0) * weights[k] * g.detach()).sum() for k, g in result.lambdas.items()),
        REFERENCE: surrogate_loss(theta0, {k: (1 - w0) * g for k, g in problem.outer_grad.items()}),
    }
    vectors = {name: _flat_grad(loss, params) for name, loss in losses.items()}
    passed = {
        k: float(result.theta0[k].norm() / problem.outer_grad[k].norm().clamp_min(1e-30)) for k in result.theta0
    }
    return {"weights": vectors, "passed": passed, "residual": result.info.relative_residual}


def _median(values: List[float]) -> str:
    return f"{statistics.median(values):.3g}"


def _settings(spec: str, fixed_lambda: Optional[float] = None, horizon: Optional[bool] = None) -> Tuple[str, MetaConfig]:
    """`NAME=RUN` or `RUN`: the meta-training settings of a MetaGrad or IFT run (IFT's λ and horizon as given)."""
    name, path = spec.split("=", 1) if "=" in spec else (spec, spec)
    try:
        run = _run_config(resolve_checkpoint(Path(path)))
    except CheckpointError as error:
        raise SystemExit(f"meta_signal: {error}") from None
    if run is None:
        raise SystemExit(f"meta_signal: no config.yml beside {path}: pass a `ns-train foresplat` run folder")
    config: MetaConfig = run.pipeline.meta
    if config.mode not in PARTS:
        raise SystemExit(f"meta_signal: {path} was trained with --pipeline.meta.mode {config.mode}: pass a MetaGrad or IFT run")
    if config.mode == "ift" and config.ift.first_order_anchors:
        raise SystemExit(f"meta_signal: {path} was trained with IFT's first-order anchors, which are not split into parts")
    if fixed_lambda is not None and config.mode == "ift":
        config = replace(config, ift=replace(config.ift, lambda_min=fixed_lambda, lambda_max=fixed_lambda))
    if horizon is not None and config.mode == "ift":
        config = replace(config, ift=replace(config.ift, horizon=horizon))
    return name, config


def _describe(name: str, config: MetaConfig, residuals: List[float]) -> str:
    text = f"{name}: {config.mode}, step-0 weight {config.step0_weight if config.step0_anchor else 0.0:g}, K {config.inner_steps}"
    if config.mode == "ift":
        text += (f", {config.ift.cg_iterations} CG iterations (median relative residual {_median(residuals)}), "
                 f"λ in [{config.ift.lambda_min:g}, {config.ift.lambda_max:g}] times the group scales "
                 + ", ".join(f"{k} {v:.3g}" for k, v in config.ift.group_scales.items())
                 + (", with the K steps' horizon weight" if config.ift.horizon else ""))
    else:
        text += f", {config.num_anchors} anchors ({config.anchor_sampling})"
    return text + f", inner learning rates x{config.inner.lr_scale:g}"


def _departure(total: Tensor, zero: Tensor) -> Tensor:
    """The part of a step orthogonal to the zero-step gradient: what zero-step training would not do."""
    return total - (total @ zero) / (zero @ zero).clamp_min(1e-30) * zero


def main(cmd: Signal) -> None:
    torch.set_num_threads(cmd.threads)
    try:
        run = _run_config(resolve_checkpoint(cmd.run))
        net, _, _, resolution = load_initializer(cmd.run)
    except CheckpointError as error:
        raise SystemExit(f"meta_signal: {error}") from None
    settings = dict(_settings(spec, cmd.fixed_lambda, cmd.horizon) for spec in (cmd.settings or [str(cmd.run)]))
    dm = run.pipeline.datamanager
    root = cmd.scenes if cmd.scenes is not None else (Path(dm.data) if dm.data is not None else builtin_scenes())
    entries = find_scenes(root, "train")[: cmd.num_scenes]
    if not entries:
        raise SystemExit(f"meta_signal: no scenes in {root}: pass --scenes DIR")
    scenes = [load_scene(entry, resolution) for entry in entries]
    stats = {name: {"norm": {}, "total": {}, "zero": {}, "passed": {}, "residual": []} for name in settings}
    between: Dict[Tuple[str, str], List[float]] = {}
    for i in range(cmd.num_steps):
        step = cmd.first_step + i
        batch = sample_batch(scenes, dm.num_context, dm.num_target, dm.seed, step, dm.num_refine)
        departures = {}
        for name, config in settings.items():
            net.network.heads.detach_confidence = config.ift.confidence_gradient == "head"
            out = signal_parts(net, config, batch, step)
            vectors = out["weights"]
            total = sum(vectors[part] for part in PARTS[config.mode])
            vectors = {**vectors, "whole step": total}
            st = stats[name]
            for part, v in vectors.items():
                st["norm"].setdefault(part, []).append(float(v.norm()))
                st["total"].setdefault(part, []).append(cosine({"v": v}, {"v": total}))
                st["zero"].setdefault(part, []).append(cosine({"v": v}, {"v": vectors["step-0 anchor"]}))
            for group, r in out["passed"].items():
                st["passed"].setdefault(group, []).append(r)
            if out["residual"] is not None:
                st["residual"].append(out["residual"])
            departures[name] = _departure(total, vectors["step-0 anchor"])
        names = list(departures)
        for a in range(len(names)):
            for b in range(a + 1, len(names)):
                pair = (names[a], names[b])
                between.setdefault(pair, []).append(cosine({"v": departures[pair[0]]}, {"v": departures[pair[1]]}))
        print(f"step {step}: scene {batch.scene} done", flush=True)
    print(f"\nNetwork {cmd.run}; medians over {cmd.num_steps} meta-steps.")
    for name, config in settings.items():
        st = stats[name]
        print(f"\n{_describe(name, config, st['residual'])}\n")
        print("| part of the gradient on the network's weights | norm | norm / step-0 anchor's | cosine with the whole step | cosine with the step-0 anchor |")
        print("|---|---|---|---|---|")
        zero = st["norm"]["step-0 anchor"]
        for part, values in st["norm"].items():
            ratio = [a / max(b, 1e-30) for a, b in zip(values, zero)]
            label = f"{part} (MetaGrad's anchor at K, not in the step)" if part == REFERENCE else part
            print(f"| {label} | {_median(values)} | {_median(ratio)} | {_median(st['total'][part])} | {_median(st['zero'][part])} |")
        if st["passed"]:
            print("\n| group | |Λu| / |∇L_out(θ*)| |")
            print("|---|---|")
            for group, values in st["passed"].items():
                print(f"| {group} | {_median(values)} |")
    if between:
        print("\nWhere the steps depart from zero-step training (their parts orthogonal to the zero-step gradient):\n")
        print("| settings | cosine of the departures (median) | per step |")
        print("|---|---|---|")
        for (a, b), values in between.items():
            print(f"| {a} vs {b} | {_median(values)} | {' '.join(f'{v:+.2f}' for v in values)} |")

if __name__ == "__main__":
    main(tyro.cli(Signal))
