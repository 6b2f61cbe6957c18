"""Fetching GlassBench (Jung et al., *Roadmap on machine learning glassy dynamics*, Nat. Rev.
Phys. 2025, arXiv:2311.14752; data: Zenodo record 10118191, CC-BY-4.0): verify the archive,
then unpack the configurations of the temperatures a run needs.

Layout of the archive, as public inventories of record 10118191 read it (its zip64 central
directory and the tarballs' members; see docs in ``presets/glassbench.yaml``): one file
``GlassBench.zip`` (6 042 260 027 bytes, md5 ``82c83a7146eb749e13417e4350022417`` as Zenodo
lists it) holding ``GlassBench/KA_models/T0.44.tar.gz`` … ``T0.64.tar.gz`` (3D Kob–Andersen,
plus 2D and result folders); each tarball holds ``T0.44/train/N4096T0.44_<i>.npz`` (i = 1–400)
and ``T0.44/test/N4096T0.44_<i>.npz`` (i = 401–500), the names the EIGNN repository's loader
(github.com/xjiang-hnu/EIGNN, ``Training and Test with EIGNN_Cage.ipynb``) opens.

Standard library only: the download and unpacking run on a login node, in Snakemake's own
interpreter (``localrules``), which need not have NumPy.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

CHUNK = 1 << 22  # 4 MiB reads while hashing and copying


class FetchError(Exception):
    """A download or archive problem the user can fix; the message names the file, the key and the fix."""


@contextlib.contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """Write to ``.<name>.partial`` beside ``path``, renamed onto it on success (removed on failure)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def md5sum(path: str | os.PathLike[str]) -> str:
    """Hex md5 of a file (Zenodo publishes md5 checksums of its files)."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def verify_archive(path: str | os.PathLike[str], md5: str | None = None, size: int | None = None) -> dict[str, object]:
    """Check an archive against ``data.fetch.size`` [bytes] and ``data.fetch.md5`` (each when set).

    Returns what was checked; raises FetchError naming the key and the fix on a mismatch.
    """
    p = Path(path)
    if not p.exists():
        raise FetchError(f"{p}: the downloaded archive is missing")
    got_size = p.stat().st_size
    if size is not None and got_size != int(size):
        raise FetchError(f"{p}: {got_size} bytes, but data.fetch.size is {size}: the download was cut short or "
                         "is another file. Delete it and download again (snakemake download), or fix data.fetch.size")
    out: dict[str, object] = {"bytes": got_size, "md5": None, "md5_checked": False}
    if md5:
        got = md5sum(p)
        out["md5"] = got
        if got.lower() != md5.lower():
            raise FetchError(f"{p}: md5 {got}, but data.fetch.md5 is {md5}: a corrupt or different download. Delete "
                             "it and download again (snakemake download); if the record changed, update data.fetch.md5")
        out["md5_checked"] = True
    return out


def place_verified(src: str | os.PathLike[str], dest: str | os.PathLike[str], md5: str | None = None,
                   size: int | None = None) -> dict[str, object]:
    """Verify ``src`` (Snakemake's local copy of the storage object), then link it (copy across file
    systems) to ``dest`` atomically; returns :func:`verify_archive`'s record."""
    checked = verify_archive(src, md5, size)
    d = Path(dest)
    with _atomic(d) as tmp:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
    return checked


def _find_member(names: list[str], wanted: str, what: str, archive: Path) -> str:
    """The zip/tar member ``wanted`` (exact, else the one name ending with it)."""
    if wanted in names:
        return wanted
    tails = [n for n in names if n.rstrip("/").endswith("/" + wanted.lstrip("./")) or n.lstrip("./") == wanted]
    if len(tails) == 1:
        return tails[0]
    shown = ", ".join(sorted(names)[:8]) + (" …" if len(names) > 8 else "")
    raise FetchError(f"{archive}: no {what} '{wanted}' (it has {shown}): not the GlassBench archive, or its "
                     "layout changed; fix data.fetch.member")


def unpack_temperature(archive: str | os.PathLike[str], member: str, files: list[str],
                       dest_root: str | os.PathLike[str]) -> list[str]:
    """Extract ``files`` (paths relative to ``dest_root``, e.g. ``T0.44/train/N4096T0.44_1.npz``)
    from the tarball ``member`` (e.g. ``GlassBench/KA_models/T0.44.tar.gz``) inside the zip
    ``archive``, streaming (the tarball is never written whole); each file is written atomically.
    Raises FetchError listing what is missing. Returns the paths written.
    """
    arch, root = Path(archive), Path(dest_root)
    wanted = {f.replace(os.sep, "/"): root / f for f in files}
    written: list[str] = []
    try:
        zf = zipfile.ZipFile(arch)
    except zipfile.BadZipFile as err:
        raise FetchError(f"{arch}: not a zip archive ({err}); delete it and download again") from err
    with zf:
        name = _find_member(zf.namelist(), member, "member", arch)
        with zf.open(name) as raw, tarfile.open(fileobj=raw, mode="r|*") as tar:
            for info in tar:
                key = info.name.lstrip("./")
                target = wanted.get(key) or next((p for w, p in wanted.items() if key.endswith("/" + w)), None)
                if target is None or not info.isfile():
                    continue
                fh = tar.extractfile(info)
                if fh is None:
                    continue
                with _atomic(target) as tmp, open(tmp, "wb") as out:
                    shutil.copyfileobj(fh, out, CHUNK)
                written.append(str(target))
    missing = sorted(set(map(str, wanted.values())) - set(written))
    if missing:
        raise FetchError(f"{arch}:{name}: {len(missing)} expected files are not in it (first: {missing[0]}); "
                         "fewer configurations than `samples`/`split.test` ask for, or another layout")
    return written


def download_step(src: str | None, archive: str, record: str, log: str, url: str, md5: str | None,
                  size: int | None, data_path: str) -> None:
    """Rule ``glassbench_download``: verify Snakemake's copy ``src`` of ``url`` and keep it as
    ``archive``; ``record`` (JSON) and ``log`` say what was checked. ``src`` is None where the host
    could not be reached while planning."""
    if not src:
        raise FetchError(f"cannot download {url}: its host cannot be reached from this node. Run `snakemake "
                         "download` (same --configfile) where it can be (a login node), or put GlassBench's "
                         f"T0.xx folders under data.path ({data_path})")
    checked = place_verified(src, archive, md5, size)
    with _atomic(Path(record)) as tmp:
        tmp.write_text(json.dumps({"url": url, "file": archive, **checked}, indent=1) + "\n")
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    Path(log).write_text(f"{url} -> {archive}: {checked}\n")


def unpack_step(archive: str, member: str, root: str, files: dict[str, list[str]], log: str) -> None:
    """Rule ``glassbench_unpack``: the files of every temperature (``files``: T → paths under
    ``root``) from its tarball ``member`` (``{T}`` filled in)."""
    done: list[str] = []
    for T, paths in files.items():
        rel = [os.path.relpath(f, root) for f in paths]
        done += unpack_temperature(archive, member.format(T=T), rel, root)
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    Path(log).write_text(f"{len(done)} files unpacked from {archive}\n")


def reachable(url: str, timeout: float = 5.0) -> bool:
    """Whether the host of ``url`` accepts a TCP connection from here (DNS and firewall included)."""
    u = urlparse(url)
    port = u.port or (443 if u.scheme == "https" else 80)
    try:
        with socket.create_connection((u.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


__all__ = ["FetchError", "download_step", "md5sum", "place_verified", "reachable", "unpack_step", "unpack_temperature",
           "verify_archive"]
