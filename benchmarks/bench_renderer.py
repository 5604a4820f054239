"""Benchmark of the CPU tile rasteriser against the dense reference.

Each (configuration, method) runs in its own subprocess so that the peak resident memory
(``ru_maxrss``) belongs to that measurement alone. Times are medians over repeats after one
warm-up run; forward and forward+backward are timed separately.

Usage::

    python benchmarks/bench_renderer.py [--threads 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time

CONFIGS = ((64, 4_000), (128, 16_000), (256, 64_000))
#: Peak bytes per (pixel, Gaussian) element of the dense reference, forward+backward
#: (about 45 measured at 64^2 and 128^2, rounded up).
DENSE_BYTES_PER_ELEMENT = 50.0
#: Refuse dense runs whose estimate exceeds this fraction of the currently available memory.
DENSE_MEMORY_FRACTION = 0.75


def make_scene(size: int, n: int, seed: int = 0):
    """Gaussians as after splatfacto training: in front of the camera, a few pixels wide.

    Means fill the view frustum between depths 2 and 6; scales give screen-space standard
    deviations log-uniform in [0.5, 2.5] px with some anisotropy; opacities are spread over
    (0, 1) with many near-opaque ones; colours are degree-3 SH.
    """
    import torch

    g = torch.Generator().manual_seed(seed)
    focal = float(size)
    z = 2.0 + 4.0 * torch.rand(n, generator=g)
    xy = (torch.rand(n, 2, generator=g) * 2 - 1) * (0.5 * size / focal) * z[:, None]
    means = torch.cat([xy, z[:, None]], dim=1)
    sigma_px = torch.exp(torch.empty(n).uniform_(math.log(0.5), math.log(2.5), generator=g))
    scales = (sigma_px * z / focal)[:, None] * torch.exp(0.3 * torch.randn(n, 3, generator=g))
    quats = torch.randn(n, 4, generator=g)
    opacities = torch.sigmoid(1.5 * torch.randn(n, generator=g) + 0.5)
    sh = 0.3 * torch.randn(n, 16, 3, generator=g)
    viewmats = torch.eye(4)[None]
    Ks = torch.tensor([[focal, 0.0, size / 2], [0.0, focal, size / 2], [0.0, 0.0, 1.0]])[None]
    return (means, quats, scales, opacities, sh), viewmats, Ks


def run_worker(method: str, size: int, n: int, repeats: int, threads: int) -> dict:
    """Times one method on one configuration in this process and returns the measurements."""
    import torch

    from foresplat_ns.rendering import rasterize, rasterize_dense

    torch.set_num_threads(threads)
    fn = rasterize if method == "tiles" else rasterize_dense
    params, viewmats, Ks = make_scene(size, n)
    params = [p.requires_grad_() for p in params]
    weights = torch.randn(1, size, size, 3, generator=torch.Generator().manual_seed(1))
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def forward():
        return fn(*params, viewmats, Ks, size, size, sh_degree=3)

    def forward_backward():
        colors, alphas, meta = forward()
        ((colors * weights).sum() + alphas.sum()).backward()
        for p in params:
            p.grad = None
        return meta

    def timed(f):
        t0 = time.perf_counter()
        out = f()
        return time.perf_counter() - t0, out

    warm, meta = timed(forward_backward)
    if warm > 20.0:
        repeats = 1  # the dense reference at large sizes: one measured run is plenty
    fwd, fwd_bwd = [], []
    for _ in range(repeats):
        fwd.append(timed(forward)[0])
        fwd_bwd.append(timed(forward_backward)[0])
    return {
        "fwd": statistics.median(fwd),
        "fwd_bwd": statistics.median(fwd_bwd),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "base_mb": base_rss / 1024,
        "isects": int(meta["flatten_ids"].numel()) if "flatten_ids" in meta else None,
        "visible": int((meta["radii"] > 0).sum()),
    }


def available_mb() -> float:
    """``MemAvailable`` from /proc/meminfo, in MiB."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return float("inf")


def spawn(method: str, size: int, n: int, repeats: int, threads: int) -> dict:
    """Runs :func:`run_worker` in a fresh interpreter and parses its JSON line."""
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", method, str(size), str(n)]
    cmd += ["--repeats", str(repeats), "--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit code {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: stable on shared machines)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", nargs=3, metavar=("METHOD", "SIZE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        method, size, n = args.worker
        print(json.dumps(run_worker(method, int(size), int(n), args.repeats, args.threads)))
        return

    load = os.getloadavg()[0]
    print(f"CPU rasteriser benchmark: threads={args.threads}, repeats={args.repeats} (medians), "
          f"cpus={os.cpu_count()}, load average={load:.2f}")  # fmt: skip
    columns = ("config", "method", "fwd s", "fwd+bwd s", "peak RSS MB", "over base MB", "isects")
    widths = (10, 6, 8, 10, 12, 13, 8)
    header = " ".join(f"{c:>{w}}" for c, w in zip(columns, widths))
    print(header)
    print("-" * len(header))
    results: dict[tuple[str, str], dict] = {}
    for size, n in CONFIGS:
        label = f"{size}^2/{n // 1000}k"
        for method in ("tiles", "dense"):
            if method == "dense":
                need_gb = DENSE_BYTES_PER_ELEMENT * size * size * n / 2**30
                have_gb = available_mb() / 1024
                if need_gb > DENSE_MEMORY_FRACTION * have_gb:
                    print(f"{label:>10} {method:>6}  skipped: needs ~{need_gb:.0f} GB, {have_gb:.0f} GB available")
                    continue
            r = spawn(method, size, n, args.repeats, args.threads)
            if "error" in r:
                print(f"{label:>10} {method:>6}  failed: {r['error']}")
                continue
            results[label, method] = r
            row = (label, method, f"{r['fwd']:.3f}", f"{r['fwd_bwd']:.3f}", f"{r['peak_mb']:.0f}",
                   f"{r['peak_mb'] - r['base_mb']:.0f}", "" if r["isects"] is None else str(r["isects"]))  # fmt: skip
            print(" ".join(f"{c:>{w}}" for c, w in zip(row, widths)), flush=True)

    print()
    print(f"{'config':>10} {'dense/tiles fwd':>16} {'dense/tiles fwd+bwd':>20} {'dense/tiles peak RSS':>21}")
    for size, n in CONFIGS:
        label = f"{size}^2/{n // 1000}k"
        t, d = results.get((label, "tiles")), results.get((label, "dense"))
        if t and d:
            print(f"{label:>10} {d['fwd'] / t['fwd']:16.1f} {d['fwd_bwd'] / t['fwd_bwd']:20.1f} "
                  f"{d['peak_mb'] / t['peak_mb']:21.1f}")  # fmt: skip

    print()
    t, d = results.get(("128^2/16k", "tiles")), results.get(("128^2/16k", "dense"))
    if t and d:
        speedup = d["fwd_bwd"] / t["fwd_bwd"]
        print(f"target tiles >= 10x dense at 128^2/16k (fwd+bwd): {speedup:.0f}x -> {'met' if speedup >= 10 else 'MISSED'}")
    t = results.get(("256^2/64k", "tiles"))
    if t:
        gb = t["peak_mb"] / 1024
        print(f"target 256^2/64k fwd+bwd within 4 GB: peak RSS {gb:.2f} GB -> {'met' if gb <= 4 else 'MISSED'}")


if __name__ == "__main__":
    main()
