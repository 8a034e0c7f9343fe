"""Benchmark (not a test): video decoding throughput and generation time of the data miniatures.

Usage::

    .venv/bin/python benchmarks/bench_video.py [--repeat 5] [--clip PATH] [--skip-minis]

Measures:

1. frames decoded per second **per core** on a real UCF101 clip (default: the 320x240 XviD clip in
   ``../shared/data/videos``) with :func:`harness.video.read_frames`, single-threaded decoder:
   decode + conversion to RGB at full size, decode + resize to 112 px (shorter side), and
   every 30th frame kept (decoding still touches every frame); plus the cheap header check used
   at load time (clips per second);
2. wall and process CPU time to generate each data miniature of the video / multi-label families
   (``ucf101-mini``, ``coview2019-mini``, ``scene-mini``, ``natural-scenes-mini``,
   ``nuswide-mini``, ``iaprtc12-mini``) into a temporary folder, and its size on disk.

CPU time is printed beside wall time because a shared machine distorts wall time; frames per
second per core are computed from process CPU time.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_CLIP = REPO.parent / "shared" / "data" / "videos" / "ucf101_applyeyemakeup_clip.avi"


def _timed(fn, repeat: int) -> tuple[float, float, object]:  # noqa: ANN001
    """Median wall and CPU seconds of ``repeat`` calls, and the last result."""
    walls, cpus = [], []
    result = None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), result


def bench_decode(clip: Path, repeat: int) -> None:
    from harness import video

    info = video.read_video_info(clip)
    print(f"clip: {clip.name}: {info.frames} frames {info.width}x{info.height} @ {info.fps:g} fps, codec {info.codec}")
    cases = [
        ("decode + RGB, full size", lambda: video.read_frames(clip)),
        ("decode + RGB, resize 112", lambda: video.read_frames(clip, size=112)),
        ("decode, keep every 30th", lambda: video.read_frames(clip, every=30)),
    ]
    print(f"{'case':<28}{'frames':>8}{'wall s':>9}{'cpu s':>9}{'frames/s/core':>15}")
    for label, fn in cases:
        wall, cpu, frames = _timed(fn, repeat)
        decoded = info.frames  # every case decodes every frame
        print(f"{label:<28}{len(frames):>8}{wall:>9.3f}{cpu:>9.3f}{decoded / max(cpu, 1e-9):>15.0f}")
    n = 200
    wall, cpu, _ = _timed(lambda: [video.check_video(clip, open_container=False) for _ in range(n)], 3)
    print(f"{'header check (load time)':<28}{n:>8}{wall:>9.3f}{cpu:>9.3f}{n / max(cpu, 1e-9):>12.0f} clips/s")


def bench_minis() -> None:
    from datasets import coview2019, iaprtc12, natural_scenes, nuswide, scene, ucf101

    generators = {
        "ucf101-mini": ucf101.generate_mini,
        "coview2019-mini": coview2019.generate_mini,
        "scene-mini": scene.generate_mini,
        "natural-scenes-mini": natural_scenes.generate_mini,
        "nuswide-mini": nuswide.generate_mini,
        "iaprtc12-mini": iaprtc12.generate_mini,
    }
    print(f"\n{'miniature':<22}{'wall s':>9}{'cpu s':>9}{'files':>8}{'MB':>8}")
    for name, generate in generators.items():
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            w0, c0 = time.perf_counter(), time.process_time()
            generate(folder, 0)
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            files = [p for p in folder.rglob("*") if p.is_file()]
            size = sum(p.stat().st_size for p in files) / 1e6
        print(f"{name:<22}{wall:>9.2f}{cpu:>9.2f}{len(files):>8}{size:>8.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=5, help="repetitions per decoding case (median reported)")
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP, help="video to decode")
    parser.add_argument("--skip-minis", action="store_true", help="only the decoding benchmark")
    args = parser.parse_args()
    import platform

    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    if args.clip.is_file():
        bench_decode(args.clip, args.repeat)
    else:
        print(f"clip {args.clip} not found: decoding benchmark skipped")
    if not args.skip_minis:
        bench_minis()
    return 0


if __name__ == "__main__":
    sys.exit(main())
