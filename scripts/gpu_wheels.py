#!/usr/bin/env python
"""The wheels that scripts/gpu-check.sh carries to a GPU machine with no internet.

``prepare`` (here, with PyPI): ``pip download`` for the target Python and CUDA (defaults: the
device image's Python 3.12 and torch +cu130) of, in this order,

1. ``openmm`` + ``openmm-cuda-<CUDA>`` (OpenMM's CUDA platform: it uses NVRTC and the cuFFT
   of torch's ``nvidia`` wheels, no nvcc; the versions of this environment),
2. ``freud-analysis`` (+ rowan, parsnip-cif): only the existing ``gpu`` test builds graphs with it,
3. ``cuequivariance`` + ``cuequivariance-torch`` (pure Python) and ``platformdirs``,
4. ``cuequivariance-ops-torch-cu<CUDA>`` + ``cuequivariance-ops-cu<CUDA>``: the CUDA kernels,
   ~70 MiB as published, repacked with LZMA inside the zip (~4× smaller; pip installs such wheels
   as any other, the RECORD hashes are of the uncompressed files),

and drops whole groups from the end while the folder would exceed the budget (the device
tool's 64 MiB, less the working tree). ``MANIFEST.json`` records what is in and what was left
out (and why), which the check prints. ``install``: ``pip install --no-index --no-deps`` of every
wheel of the folder into the running Python (the GPU machine's torch is never touched).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import lzma
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MIB = 2**20
PLATFORMS = ["manylinux_2_34_x86_64", "manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64",
             "manylinux_2_17_x86_64", "manylinux2014_x86_64"]


def version_here(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def pinned(name: str) -> str:
    v = version_here(name)
    return f"{name}=={v}" if v else name


def groups(cuda: str) -> list[tuple[str, list[str], bool]]:
    """(name, requirements, repack with LZMA) in order of priority."""
    omm = version_here("openmm")
    cueq = version_here("cuequivariance-torch")
    pin = f"=={cueq}" if cueq else ""
    return [
        ("openmm-cuda", [pinned("openmm"), f"openmm-cuda-{cuda}" + (f"=={omm}" if omm else "")], False),
        ("freud", [pinned("freud-analysis"), pinned("rowan"), pinned("parsnip-cif")], False),
        ("cuequivariance", [f"cuequivariance{pin}", f"cuequivariance-torch{pin}", "platformdirs"], False),
        ("cuequivariance-ops", [f"cuequivariance-ops-torch-cu{cuda}{pin}", f"cuequivariance-ops-cu{cuda}{pin}"], True),
    ]


class _LZMA9(zipfile.LZMACompressor):
    """zipfile's LZMA member compressor at preset 9 (64 MiB dictionary): the CUDA fat binaries
    repeat across architectures further apart than the default 8 MiB window."""

    def _init(self) -> bytes:
        props = lzma._encode_filter_properties({"id": lzma.FILTER_LZMA1, "preset": 9})
        self._comp = lzma.LZMACompressor(lzma.FORMAT_RAW, filters=[
            lzma._decode_filter_properties(lzma.FILTER_LZMA1, props)])
        return struct.pack("<BBH", 9, 4, len(props)) + props


def repack_lzma(path: Path) -> None:
    """Rewrite the wheel ``path`` with every member LZMA-compressed (same names, modes, contents)."""
    tmp = path.with_suffix(".tmp")
    original, zipfile.LZMACompressor = zipfile.LZMACompressor, _LZMA9
    try:
        with zipfile.ZipFile(path) as zin, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_LZMA) as zout:
            for info in zin.infolist():
                zout.writestr(info, zin.read(info.filename), compress_type=zipfile.ZIP_LZMA)
    finally:
        zipfile.LZMACompressor = original
    tmp.replace(path)


def tree_bytes() -> int:
    """Bytes of the working tree that the device tool copies (tracked + untracked, not ignored)."""
    out = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                         check=True).stdout
    return sum((REPO / f).stat().st_size for f in out.decode().split("\0") if f and (REPO / f).is_file())


def download(reqs: list[str], dest: Path, python: str) -> list[Path]:
    before = set(dest.glob("*.whl"))
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
           "--python-version", python, "--implementation", "cp", "-d", str(dest)]
    for p in PLATFORMS:
        cmd += ["--platform", p]
    subprocess.run(cmd + reqs, check=True)
    return sorted(set(dest.glob("*.whl")) - before)


def is_lzma(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return all(i.compress_type == zipfile.ZIP_LZMA for i in z.infolist())
    except (OSError, zipfile.BadZipFile):
        return False


def prepare(dest: Path, python: str, cuda: str, budget_mib: float | None) -> dict:
    """Fill ``dest`` (see the module doc); a wheel already repacked there is reused (repacking
    the CUDA ops takes minutes)."""
    dest.mkdir(parents=True, exist_ok=True)
    budget = budget_mib * MIB if budget_mib else 64 * MIB - tree_bytes() - MIB  # 1 MiB margin
    manifest = {"python": python, "cuda": cuda, "budget_mib": round(budget / MIB, 1), "groups": {}, "skipped": {}}
    used, kept = 0, set()
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        for name, reqs, repack in groups(cuda):
            try:
                files = download(reqs, Path(tmp), python)
            except subprocess.CalledProcessError as err:
                manifest["skipped"][name] = f"pip download failed ({err})"
                continue
            for f in files:
                target = dest / f.name
                if repack and is_lzma(target):
                    continue  # repacked by an earlier run
                if repack:
                    print(f"repacking {f.name} with LZMA (minutes) ...", flush=True)
                    repack_lzma(f)
                f.replace(target)
            size = sum((dest / f.name).stat().st_size for f in files)
            if used + size > budget:
                manifest["skipped"][name] = (f"{size / MIB:.1f} MiB, over the {budget / MIB:.1f} MiB budget "
                                             f"({used / MIB:.1f} MiB already)")
                continue
            used += size
            kept |= {f.name for f in files}
            manifest["groups"][name] = {f.name: round((dest / f.name).stat().st_size / MIB, 2) for f in files}
    for old in dest.glob("*.whl"):
        if old.name not in kept:
            old.unlink()
    manifest["total_mib"] = round(used / MIB, 1)
    (dest / "MANIFEST.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def skipped_note(folder: Path) -> str:
    """One line: the groups the preparation left out, with why."""
    try:
        manifest = json.loads((folder / "MANIFEST.json").read_text())
    except (OSError, ValueError):
        return f"{folder} has no MANIFEST.json"
    return "; ".join(f"{k}: {v}" for k, v in manifest.get("skipped", {}).items())


def install(folder: Path) -> int:
    """pip install (no index, no deps) every wheel in ``folder``; one by one if all at once fails."""
    wheels = sorted(folder.glob("*.whl"))
    if not wheels:
        print(f"no wheels in {folder}", flush=True)
        return 1
    base = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
            "--disable-pip-version-check", "--root-user-action=ignore"]
    if subprocess.run(base + [str(w) for w in wheels]).returncode == 0:
        print(f"installed {len(wheels)} wheels from {folder}", flush=True)
        return 0
    bad = [w.name for w in wheels if subprocess.run(base + [str(w)]).returncode != 0]
    print(f"could not install: {', '.join(bad)}", flush=True)
    return 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="download the wheels (needs PyPI)")
    p.add_argument("--dest", type=Path, default=REPO / "gpu-wheels")
    p.add_argument("--python", default="3.12", help="the GPU machine's Python (major.minor)")
    p.add_argument("--cuda", default="13", choices=["12", "13"], help="CUDA major of the GPU machine's torch")
    p.add_argument("--budget-mib", type=float, default=None, help="default: 64 MiB less the working tree")
    i = sub.add_parser("install", help="install the folder's wheels (no index)")
    i.add_argument("folder", type=Path)
    s = sub.add_parser("skipped", help="print what the preparation left out")
    s.add_argument("folder", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "prepare":
        manifest = prepare(args.dest, args.python, args.cuda, args.budget_mib)
        print(json.dumps(manifest, indent=1))
        return 0
    if args.cmd == "install":
        return install(args.folder)
    print(skipped_note(args.folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
