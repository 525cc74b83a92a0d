"""Install time and size of perfedit's core and of each extra, printed as a Markdown table.

For each variant (``core`` is ``pip install .``; ``train``/``ray`` are ``pip install '.[train]'``
and so on) a fresh virtual environment is made in a temporary folder and perfedit is installed
into it from this checkout, with pip's cache in a fresh folder (``--no-cache``: every package is
downloaded, as on a new machine) unless ``--pip-cache`` keeps the user's. The table gives the
wall time of ``pip install``, the size of the virtual environment (bytes on disk, ``du``), and
the biggest installed distributions. The load average is printed before and after (a busy
machine slows unpacking; the download's speed depends on the network).

Usage: python bench/install.py [--variants core train ray] [--pip-cache]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tree_bytes(path: Path) -> int:
    """Bytes on disk under ``path`` (``du -sb``)."""
    return int(
        subprocess.run(
            ["du", "-sb", str(path)], capture_output=True, text=True, check=True
        ).stdout.split()[0]
    )


def biggest(site: Path, count: int = 4) -> str:
    """The ``count`` biggest top-level folders of ``site`` (site-packages), with their sizes."""
    sizes = sorted(
        (
            (tree_bytes(p), p.name)
            for p in site.iterdir()
            if p.is_dir() and not p.name.endswith((".dist-info", "__pycache__"))
        ),
        reverse=True,
    )
    return ", ".join(f"{name} {size / 1e6:.0f} MB" for size, name in sizes[:count])


def install(variant: str, pip_cache: bool) -> tuple[float, int, str]:
    """(seconds of ``pip install``, bytes of the virtual environment, its biggest packages)."""
    with tempfile.TemporaryDirectory(prefix=f"perfedit-{variant}-") as scratch:
        env_dir = Path(scratch) / "venv"
        venv.create(env_dir, with_pip=True)
        python = env_dir / "bin" / "python"
        target = str(ROOT) if variant == "core" else f"{ROOT}[{variant}]"
        environment = {**os.environ}
        if not pip_cache:
            environment["PIP_CACHE_DIR"] = str(Path(scratch) / "pip-cache")
        start = time.perf_counter()
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", target],
            env=environment,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            sys.exit(f"pip install {target} failed:\n{done.stderr[-3000:]}")
        seconds = time.perf_counter() - start
        site = next((env_dir / "lib").glob("python3*/site-packages"))
        return seconds, tree_bytes(env_dir), biggest(site)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", nargs="+", default=["core", "train", "ray"])
    parser.add_argument("--pip-cache", action="store_true", help="use pip's own cache")
    args = parser.parse_args()
    load = lambda: " ".join(f"{x:.2f}" for x in os.getloadavg())  # noqa: E731
    cache = "pip's own cache" if args.pip_cache else "an empty pip cache"
    print(f"Python {sys.version.split()[0]}, {cache}; load average before: {load()}\n")
    print("| install | pip install time | virtual environment | biggest packages |")
    print("|---|---|---|---|")
    for variant in args.variants:
        seconds, size, top = install(variant, args.pip_cache)
        name = "perfedit" if variant == "core" else f"perfedit[{variant}]"
        print(f"| {name} | {seconds:.0f} s | {size / 1e6:.0f} MB | {top} |", flush=True)
    print(f"\nload average after: {load()}")


if __name__ == "__main__":
    main()
