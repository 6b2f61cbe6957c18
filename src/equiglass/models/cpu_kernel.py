"""A compiled CPU kernel for the depthwise ("uvu") tensor-product convolution of the SE(3) GNN.

The convolution of one layer, ``out_n = Σ_{e: dst=n} w(|r_e|) ⊙ TP(h_src, Y(r̂_e))``, is evaluated
in one pass over the edges of each node (edges sorted by destination), without materializing
any per-edge message: PyTorch's version (:mod:`.fused_tp`) writes and reads (E, Σ mul·(2l+1))
tensors several times per layer, which is what bounds it on a CPU. Geometry is shared by the two
directions of a bond: the radial weights w(|r|) and the couplings
``M_p[i, k] = α_p Σ_j C^{l1 l2 l3}_{ijk} Y_{l2,j}(r̂)`` are stored once per undirected pair, and
an edge running against its pair's direction sees Y_l(−r̂) = (−1)^l Y_l(r̂) (a sign per path).
The backward pass (gradients of the node features and of the radial weights; the geometry
carries none) is a second kernel. Outputs equal e3nn's ``TensorProduct`` to float32 round-off
(tests/test_cpu_kernel.py), with the same weights.

The C source (``csrc/uvu_tp.c``) is compiled with the system C compiler on first use, for this
CPU, and cached (``$EQUIGLASS_KERNEL_CACHE``, else ``$XDG_CACHE_HOME/equiglass`` or
``~/.cache/equiglass``). Without a compiler, or with ``EQUIGLASS_CPU_KERNEL=0``, the model uses
the PyTorch path; :func:`status` says which and why. Threads: destination rows are split into
``torch.get_num_threads()`` ranges of equal edge counts, run in Python threads (ctypes releases
the GIL), each with its own gradient accumulators (summed in a fixed order: deterministic for a
given thread count).
"""

from __future__ import annotations

import ctypes
import hashlib
import itertools
import os
import platform
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from e3nn import o3

SOURCE = Path(__file__).with_name("csrc") / "uvu_tp.c"
_FLAGS = (["-O3", "-march=native", "-std=c99", "-ffp-contract=fast", "-shared", "-fPIC"], ["-O3", "-std=c99", "-shared", "-fPIC"])
_STATE: dict = {}


def cache_dir() -> Path:
    """Where compiled kernels are kept."""
    if os.environ.get("EQUIGLASS_KERNEL_CACHE"):
        return Path(os.environ["EQUIGLASS_KERNEL_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "equiglass" / "kernels"


def _cpu_signature() -> str:
    """The CPU's model and instruction-set flags (a kernel built with -march=native runs only there)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
        lines = [ln for ln in text.splitlines() if ln.startswith(("model name", "flags"))][:2]
        return "\n".join(lines)
    except OSError:
        return platform.processor() or platform.machine()


def _compile() -> tuple[ctypes.CDLL | None, str]:
    """Build (or reuse) the shared library; (library, how) or (None, why not)."""
    if os.environ.get("EQUIGLASS_CPU_KERNEL", "1").lower() in ("0", "false", "off", "no"):
        return None, "disabled by EQUIGLASS_CPU_KERNEL=0"
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        return None, "no C compiler (cc, gcc or clang) on PATH: using the PyTorch path"
    source = SOURCE.read_bytes()
    try:
        version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as err:
        return None, f"C compiler {cc} does not run ({err}): using the PyTorch path"
    errors = []
    for flags in _FLAGS:
        key = hashlib.sha256(b"\0".join([source, " ".join(flags).encode(), version.encode(),
                                         _cpu_signature().encode()])).hexdigest()[:16]
        lib_path = cache_dir() / f"uvu_tp-{key}.so"
        if not lib_path.exists():
            lib_path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=lib_path.parent) as tmp:
                tmp_lib = Path(tmp) / lib_path.name
                proc = subprocess.run([cc, *flags, str(SOURCE), "-o", str(tmp_lib)], capture_output=True,
                                      text=True, timeout=300)
                if proc.returncode != 0:
                    errors.append(f"{cc} {' '.join(flags)}: {proc.stderr.strip()[-300:]}")
                    continue
                os.replace(tmp_lib, lib_path)  # atomic: concurrent jobs never load a half-written file
        try:
            lib = ctypes.CDLL(str(lib_path))
        except OSError as err:
            errors.append(f"loading {lib_path}: {err}")
            continue
        _declare(lib)
        return lib, f"compiled kernel {lib_path.name} ({cc} {' '.join(flags[:2])})"
    return None, "compiling the CPU kernel failed: " + " | ".join(errors)


def _declare(lib: ctypes.CDLL) -> None:
    p, i = ctypes.c_void_p, ctypes.c_int64
    common = [p, i, p, i, p, i, p, p, p, p, i, i, p, i, p, p]
    lib.uvu_forward.argtypes = [*common, p, i]
    lib.uvu_forward.restype = None
    lib.uvu_backward.argtypes = [*common, p, i, p, p]
    lib.uvu_backward.restype = None


def library() -> ctypes.CDLL | None:
    """The compiled kernel, built once per process (None when unavailable: see :func:`status`)."""
    if "lib" not in _STATE:
        _STATE["lib"], _STATE["how"] = _compile()
    return _STATE["lib"]


def status() -> str:
    """Which implementation the SE(3) GNN uses on CPU, and why."""
    library()
    return _STATE["how"]


# ------------------------------------------------------------------------------ geometry
@dataclass
class PairGeometry:
    """Edges of a batch grouped into undirected pairs (arrays for the kernel; E edges, P pairs).

    src (E,) int64 and ptr (N+1,) int64: edges sorted by destination, ``ptr`` their CSR offsets;
    pair (E,) int64: the pair of each edge; rev (E,) uint8: 1 when the edge runs against its
    pair's direction; canon (P,) int64: the edge that defines each pair's direction (src < dst);
    vec (P, 3) float32 [σ_AA]: r_src − r_dst of that edge.
    """

    src: np.ndarray
    ptr: np.ndarray
    pair: np.ndarray
    rev: np.ndarray
    canon: np.ndarray
    vec: torch.Tensor

    @property
    def n_pairs(self) -> int:
        return len(self.canon)


def pair_geometry(src: torch.Tensor, dst: torch.Tensor, vec: torch.Tensor, n_nodes: int) -> PairGeometry | None:
    """Pairs of a radius graph, or None when it is not symmetric or not sorted by destination."""
    s = src.detach().cpu().numpy().astype(np.int64)
    d = dst.detach().cpu().numpy().astype(np.int64)
    if len(d) and np.any(d[1:] < d[:-1]):
        return None
    key, rkey = s * n_nodes + d, d * n_nodes + s
    order = np.argsort(key, kind="stable")
    pos = np.searchsorted(key[order], rkey)
    pos = np.minimum(pos, len(key) - 1) if len(key) else pos
    if len(key) and not np.array_equal(key[order][pos], rkey):
        return None  # some edge has no reverse: not an undirected radius graph
    reverse = order[pos]
    canon = np.nonzero(s < d)[0]
    pair_of_canon = np.empty(len(s), dtype=np.int64)
    pair_of_canon[canon] = np.arange(len(canon))
    forward = s < d
    pair = np.where(forward, pair_of_canon, pair_of_canon[reverse])
    ptr = np.searchsorted(d, np.arange(n_nodes + 1)).astype(np.int64)
    return PairGeometry(src=s, ptr=ptr, pair=pair, rev=(~forward).astype(np.uint8), canon=canon,
                        vec=vec.detach()[torch.as_tensor(canon)].to(torch.float32).contiguous())


def concat_geometries(parts: list[PairGeometry], n_nodes: list[int]) -> PairGeometry:
    """One geometry for graphs batched side by side (nodes, edges and pairs offset)."""
    if len(parts) == 1:
        return parts[0]
    node_off = np.cumsum([0, *n_nodes[:-1]])
    edge_off = np.cumsum([0, *[len(g.src) for g in parts[:-1]]])
    pair_off = np.cumsum([0, *[g.n_pairs for g in parts[:-1]]])
    ptr = [parts[0].ptr[:1]] + [g.ptr[1:] + eo for g, eo in zip(parts, edge_off)]
    return PairGeometry(
        src=np.concatenate([g.src + o for g, o in zip(parts, node_off)]), ptr=np.concatenate(ptr),
        pair=np.concatenate([g.pair + o for g, o in zip(parts, pair_off)]),
        rev=np.concatenate([g.rev for g in parts]),
        canon=np.concatenate([g.canon + o for g, o in zip(parts, edge_off)]),
        vec=torch.cat([g.vec for g in parts]))


@dataclass
class KernelEdges:
    """What the kernel path reads of a batch's geometry: the pairs, their spherical harmonics
    (P, (l_max+1)²) and radial bases (P, n_basis), and the couplings of every plan (filled on
    first use, by :meth:`KernelPlan.key`)."""

    pairs: PairGeometry
    sh: torch.Tensor
    basis: torch.Tensor
    couplings: dict

    def coupling(self, plan: KernelPlan) -> torch.Tensor:
        if plan.key not in self.couplings:
            self.couplings[plan.key] = plan.coupling_matrix(self.sh)
        return self.couplings[plan.key]


def concat_edges(parts: list[KernelEdges], n_nodes: list[int]) -> KernelEdges:
    """One :class:`KernelEdges` for graphs batched side by side (couplings concatenated where all have them)."""
    if len(parts) == 1:
        return parts[0]
    keys = set.intersection(*[set(p.couplings) for p in parts])
    return KernelEdges(concat_geometries([p.pairs for p in parts], n_nodes), torch.cat([p.sh for p in parts]),
                       torch.cat([p.basis for p in parts]),
                       {k: torch.cat([p.couplings[k] for p in parts]) for k in keys})


# ---------------------------------------------------------------------------------- plan
class KernelPlan:
    """How one e3nn uvu ``TensorProduct`` maps onto the kernel's arrays.

    Input blocks that share their paths (the same irrep l with both parities, the same channel
    count) form a group of G blocks evaluated as one vector of G·mul channels. Kernel layouts:
    input features per group as (i, g, u) with the channel u innermost (e3nn: per block (u, i));
    output per group as (c, g, u) with c = (path, k). ``x_index`` gathers the kernel's input
    columns from e3nn's, ``out_index`` e3nn's output columns from the kernel's.
    """

    def __init__(self, tp: o3.TensorProduct) -> None:
        ins_by_block: dict[int, list] = {}
        w_offset = 0
        for ins in tp.instructions:
            if ins.connection_mode != "uvu" or not ins.has_weight:
                raise ValueError(f"only weighted uvu instructions are supported, got {ins}")
            ins_by_block.setdefault(ins.i_in1, []).append((ins, w_offset))
            w_offset += int(np.prod(ins.path_shape))
        if w_offset != tp.weight_numel:
            raise AssertionError(f"weight layout mismatch: {w_offset} != {tp.weight_numel}")
        # blocks with the same (l, channels, paths) share couplings and run as one group
        by_key: dict[tuple, list[int]] = {}
        for i_in1, paths in ins_by_block.items():
            mul, ir1 = tp.irreps_in1[i_in1]
            spec = tuple((ins.i_in2, tp.irreps_in2[ins.i_in2][1].l, tp.irreps_out[ins.i_out][1].l,
                          float(ins.path_weight)) for ins, _ in paths)
            by_key.setdefault((ir1.l, mul, spec), []).append(i_in1)
        slices_in, slices_out = tp.irreps_in1.slices(), tp.irreps_out.slices()
        x_index = np.full(tp.irreps_in1.dim, -1, dtype=np.int64)
        out_index = np.full(tp.irreps_out.dim, -1, dtype=np.int64)
        groups, colw, colsign = [], [], []
        self.couplings: list[tuple[int, int, list[tuple[int, int, int, float]]]] = []  # (l1, moff, paths)
        m_off = x_off = out_off = n_cols_all = 0
        for (l1, mul, spec), members in by_key.items():
            d1, n_g = 2 * l1 + 1, len(members)
            lanes = n_g * mul
            for g, i_in1 in enumerate(members):
                start = slices_in[i_in1].start
                for u in range(mul):
                    for i in range(d1):
                        x_index[x_off + (i * n_g + g) * mul + u] = start + u * d1 + i
            cols = [(k, j) for j, (_, _, l3, _) in enumerate(spec) for k in range(2 * l3 + 1)]
            for c, (k, j) in enumerate(cols):
                colsign.append((-1.0) ** spec[j][1])
                for g, i_in1 in enumerate(members):
                    ins, w0 = ins_by_block[i_in1][j]
                    colw.append(w0)
                    d3 = 2 * spec[j][2] + 1
                    for u in range(mul):
                        out_index[slices_out[ins.i_out].start + u * d3 + k] = out_off + (c * n_g + g) * mul + u
            self.couplings.append((l1, m_off, list(spec)))
            groups.append([x_off, mul, n_g, d1, len(cols), m_off, out_off, n_cols_all, len(colw) - n_g * len(cols)])
            m_off += d1 * len(cols)
            x_off += d1 * lanes
            out_off += len(cols) * lanes
            n_cols_all += len(cols)
        if (x_index < 0).any() or (out_index < 0).any() or out_off != tp.irreps_out.dim:
            raise AssertionError("kernel layout does not cover the tensor product's inputs and outputs")
        self.groups = np.asarray(groups, dtype=np.int64)
        self.colw = np.asarray(colw, dtype=np.int64)
        self.colsign = np.asarray(colsign, dtype=np.float32)
        self.x_index = torch.as_tensor(x_index)
        self.out_index = torch.as_tensor(out_index)
        self.m_width, self.out_width, self.w_width = m_off, out_off, tp.weight_numel
        self.sh_slices = tp.irreps_in2.slices()
        self.key = ("uvu-kernel", tuple((l1, off, tuple(paths)) for l1, off, paths in self.couplings))

    def coupling_matrix(self, sh: torch.Tensor) -> torch.Tensor:
        """Per pair, every group's α-scaled couplings, columns (c, i) row-major: (P, m_width)."""
        parts = []
        for l1, _, paths in self.couplings:
            cols = []
            for i_in2, l2, l3, alpha in paths:
                w3j = o3.wigner_3j(l1, l2, l3, dtype=torch.float64)
                cols.append(torch.einsum("pj,ijk->pki", sh[:, self.sh_slices[i_in2]], (alpha * w3j).to(sh.dtype)))
            parts.append(torch.cat(cols, dim=1).reshape(sh.shape[0], -1))
        return torch.cat(parts, dim=1).contiguous()


# ------------------------------------------------------------------------------ autograd
def _ranges(ptr: np.ndarray, n_threads: int) -> list[tuple[int, int]]:
    """Destination rows split into ranges of about equal edge counts."""
    n = len(ptr) - 1
    if n_threads <= 1 or n < 2 * n_threads:
        return [(0, n)]
    cuts = np.searchsorted(ptr, np.linspace(0, ptr[-1], n_threads + 1)[1:-1])
    bounds = [0, *sorted(set(int(c) for c in cuts)), n]
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def _ptr(a: np.ndarray | torch.Tensor) -> int:
    return a.ctypes.data if isinstance(a, np.ndarray) else a.data_ptr()


_POOL: dict[int, ThreadPoolExecutor] = {}


def _run(fn, ranges: list[tuple[int, int]]) -> None:
    """``fn(k, n0, n1)`` for every range k, in threads when there are several."""
    if len(ranges) == 1:
        fn(0, *ranges[0])
        return
    pool = _POOL.get(len(ranges))
    if pool is None:
        pool = _POOL[len(ranges)] = ThreadPoolExecutor(len(ranges), thread_name_prefix="equiglass-uvu")
    for f in [pool.submit(fn, k, a, b) for k, (a, b) in enumerate(ranges)]:
        f.result()


class UVUConvolution(torch.autograd.Function):
    """out (N, out_width) = kernel forward; gradients for x (N, x width) and w (P, w_width)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor, m: torch.Tensor, geom: PairGeometry,
                plan: KernelPlan) -> torch.Tensor:
        lib = library()
        x, w, m = x.contiguous(), w.contiguous(), m.contiguous()
        n = x.shape[0]
        out = torch.zeros((n, plan.out_width), dtype=torch.float32)
        ranges = _ranges(geom.ptr, torch.get_num_threads())

        def part(_: int, n0: int, n1: int) -> None:
            lib.uvu_forward(_ptr(x), x.shape[1], _ptr(m), m.shape[1], _ptr(w), w.shape[1], _ptr(geom.src),
                            _ptr(geom.pair), _ptr(geom.rev), _ptr(geom.ptr), n0, n1, _ptr(plan.groups),
                            len(plan.groups), _ptr(plan.colw), _ptr(plan.colsign), _ptr(out), out.shape[1])

        _run(part, ranges)
        ctx.save_for_backward(x, w, m)
        ctx.geom, ctx.plan, ctx.ranges = geom, plan, ranges
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        lib = library()
        x, w, m = ctx.saved_tensors
        geom, plan, ranges = ctx.geom, ctx.plan, ctx.ranges
        g = grad_out.contiguous().to(torch.float32)
        gx = [torch.zeros_like(x) for _ in ranges]
        gw = [torch.zeros_like(w) for _ in ranges]

        def part(k: int, n0: int, n1: int) -> None:
            lib.uvu_backward(_ptr(x), x.shape[1], _ptr(m), m.shape[1], _ptr(w), w.shape[1], _ptr(geom.src),
                             _ptr(geom.pair), _ptr(geom.rev), _ptr(geom.ptr), n0, n1, _ptr(plan.groups),
                             len(plan.groups), _ptr(plan.colw), _ptr(plan.colsign), _ptr(g), g.shape[1],
                             _ptr(gx[k]), _ptr(gw[k]))

        _run(part, ranges)
        grad_x = gx[0] if len(gx) == 1 else torch.stack(gx).sum(0)
        grad_w = gw[0] if len(gw) == 1 else torch.stack(gw).sum(0)
        return (grad_x if ctx.needs_input_grad[0] else None, grad_w if ctx.needs_input_grad[1] else None,
                None, None, None)
