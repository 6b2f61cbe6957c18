"""The depthwise ("uvu") tensor-product convolution on NVIDIA's cuEquivariance (CUDA backend).

cuEquivariance (PyPI ``cuequivariance-torch``; its CUDA kernels ship in
``cuequivariance-ops-torch-cu12``/``-cu13``) is what NequIP and MACE run on NVIDIA GPUs. Its
``ChannelWiseTensorProduct`` builds its own path list and weight order (paths sorted with the
outputs), so this adapter builds the descriptor itself from the e3nn ``TensorProduct`` of the
layer, one path per e3nn instruction:

    out[k, u] += α_p C^{l1 l2 l3}_{ijk} · w_p[u] · x1[i, u] · Y_{l2}[j]      ("u,iu,j,ku+ijk")

with C e3nn's Wigner 3j symbols and α_p e3nn's path weight (its irrep and path normalization),
the weight segments in e3nn's instruction order (so the radial MLP's (E, weight_numel) output is
used as is) and the output segments at e3nn's ``i_out`` (so the result is e3nn's ``irreps_out``).
Operands are in cuEquivariance's ``ir_mul`` layout (each block (2l+1, mul)), the one its CUDA
``uniform_1d`` kernel reads: node features are permuted from e3nn's ``mul_ir`` on the way in and
back on the way out (N rows; the spherical harmonics have multiplicity 1, the same in both). The
gather of sources and the sum over edges into destinations run inside the kernel
(``input_indices``/``output_indices``): no (E, width) message tensor is ever built.

The CUDA kernel (method ``uniform_1d``) needs every block of the node features and the output
to have the same multiplicity (``mul_scalar`` = ``mul``); elsewhere, and on the CPU, the same
descriptor runs on cuEquivariance's PyTorch path (``naive``), used by the tests to check the
descriptor against e3nn on machines without a GPU. :func:`status` says what is importable.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from e3nn import o3

ENV = "EQUIGLASS_CUEQ"  # "0" disables cuEquivariance everywhere (the fused PyTorch path is used)
_STATE: dict = {}
_ADAPTERS: dict = {}


def _probe() -> tuple[bool, bool, str]:
    """(cuequivariance-torch importable, its CUDA ops importable, a sentence saying which)."""
    if "probe" not in _STATE:
        try:
            import cuequivariance  # noqa: F401
            import cuequivariance_torch as cuet
        except Exception as err:  # ImportError, or a broken install
            _STATE["probe"] = (False, False, f"cuequivariance-torch not importable ({type(err).__name__}: {err})")
        else:
            from cuequivariance_torch.primitives import segmented_polynomial_uniform_1d as u1d

            version = getattr(cuet, "__version__", "?")
            if u1d.uniform_1d is None:
                _STATE["probe"] = (True, False, f"cuequivariance-torch {version} without its CUDA ops "
                                   "(cuequivariance-ops-torch-cu12/-cu13 missing): PyTorch path only")
            else:
                _STATE["probe"] = (True, True, f"cuequivariance-torch {version} with CUDA ops")
    return _STATE["probe"]


def available() -> bool:
    """cuequivariance-torch importable (its PyTorch path runs anywhere)."""
    return _probe()[0]


def cuda_ops_available() -> bool:
    """cuequivariance-torch and its CUDA kernels importable (they run only on NVIDIA GPUs)."""
    return _probe()[1]


def status() -> str:
    """What is installed, and whether ``EQUIGLASS_CUEQ`` disables it."""
    why = _probe()[2]
    return f"disabled by {ENV}=0 ({why})" if _disabled() else why


def _disabled() -> bool:
    return os.environ.get(ENV, "1").lower() in ("0", "false", "off", "no")


def uniform(tp: o3.TensorProduct) -> bool:
    """Whether the CUDA kernel can run ``tp``: one multiplicity for all input and output blocks,
    multiplicity 1 for the second input (the spherical harmonics)."""
    muls = {mul for mul, _ in tp.irreps_in1} | {mul for mul, _ in tp.irreps_out}
    return len(muls) == 1 and all(mul == 1 for mul, _ in tp.irreps_in2)


def wanted(tp: o3.TensorProduct, x: torch.Tensor, use: bool | None) -> bool:
    """Whether a layer runs ``tp`` on cuEquivariance for node features ``x``: ``use`` True forces it
    (wherever cuequivariance-torch imports, its PyTorch path off CUDA), False refuses it, None
    picks it on CUDA tensors when the CUDA ops are importable and the kernel can run ``tp``."""
    if use is False or _disabled():
        return False
    if use:
        return available()
    return x.is_cuda and cuda_ops_available() and uniform(tp)


def _layout_index(irreps: o3.Irreps, to_ir_mul: bool) -> torch.Tensor | None:
    """Column index taking (R, irreps.dim) from e3nn's mul_ir layout to ir_mul (``to_ir_mul``) or
    back: ``y = x[:, index]``. None when both layouts coincide (every block of mul 1 or dim 1)."""
    index = np.arange(irreps.dim)
    for (mul, ir), sl in zip(irreps, irreps.slices()):
        shape = (mul, ir.dim) if to_ir_mul else (ir.dim, mul)  # the source layout of the block
        index[sl] = np.arange(sl.start, sl.stop).reshape(shape).T.reshape(-1)
    return None if np.array_equal(index, np.arange(irreps.dim)) else torch.as_tensor(index)


def polynomial(tp: o3.TensorProduct):
    """The cuEquivariance polynomial of ``tp`` (all instructions weighted uvu, mul 1 in the second
    input): inputs (weights, x1 ir_mul, x2), output (irreps_out ir_mul); see the module doc."""
    import cuequivariance as cue

    if any(mul != 1 for mul, _ in tp.irreps_in2):
        raise ValueError(f"the second input must have multiplicity 1 (spherical harmonics), got {tp.irreps_in2}")
    d = cue.SegmentedTensorProduct.from_subscripts("u,iu,j,ku+ijk")
    for mul, ir in tp.irreps_in1:
        d.add_segment(1, (ir.dim, mul))
    for _, ir in tp.irreps_in2:
        d.add_segment(2, (ir.dim,))
    for mul, ir in tp.irreps_out:
        d.add_segment(3, (ir.dim, mul))
    for ins in tp.instructions:  # one weight segment per instruction, in e3nn's order
        if ins.connection_mode != "uvu" or not ins.has_weight:
            raise ValueError(f"only weighted uvu instructions run on cuEquivariance, got {ins}")
        mul1, ir1 = tp.irreps_in1[ins.i_in1]
        ir2, ir3 = tp.irreps_in2[ins.i_in2].ir, tp.irreps_out[ins.i_out].ir
        c = ins.path_weight * o3.wigner_3j(ir1.l, ir2.l, ir3.l, dtype=torch.float64).numpy()
        d.add_path(None, ins.i_in1, ins.i_in2, ins.i_out, c=c, dims={"u": mul1})
    if d.operands[0].size != tp.weight_numel:
        raise AssertionError(f"weight layout mismatch: {d.operands[0].size} != {tp.weight_numel}")
    return cue.SegmentedPolynomial.eval_last_operand(d)


class CueqUVUTensorProduct(torch.nn.Module):
    """Same maps as the e3nn ``TensorProduct`` ``tp`` (weighted uvu, per-edge weights) on cuEquivariance.

    aggregate(x1 (N, irreps_in1.dim), weights (E, weight_numel), src, dst (E,), n, x2 (E, irreps_in2.dim))
    → (n, irreps_out.dim): Σ over edges e with dst[e] = i of TP(x1[src[e]], x2[e]; weights[e]);
    forward(x1 (E, dim1), weights, x2) → the per-edge products (E, irreps_out.dim). All in e3nn's layout.
    ``method``: 'uniform_1d' (CUDA kernel) or 'naive' (cuEquivariance's PyTorch path); ``dtype``: the
    arithmetic's (float32 or float64; inputs are cast to it).
    """

    def __init__(self, tp: o3.TensorProduct, method: str = "naive", dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        import cuequivariance_torch as cuet

        if method == "uniform_1d" and not uniform(tp):
            raise ValueError(f"the CUDA kernel needs one multiplicity in {tp.irreps_in1} and {tp.irreps_out}")
        self.method, self.dtype = method, dtype
        self.irreps_in1, self.irreps_in2, self.irreps_out = tp.irreps_in1, tp.irreps_in2, tp.irreps_out
        self.weight_numel = tp.weight_numel
        self.poly = cuet.SegmentedPolynomial(polynomial(tp), method=method, math_dtype=dtype)
        for name, irreps, to_ir_mul in (("in_index", tp.irreps_in1, True), ("out_index", tp.irreps_out, False)):
            self.register_buffer(name, _layout_index(irreps, to_ir_mul), persistent=False)

    def _run(self, x1: torch.Tensor, weights: torch.Tensor, x2: torch.Tensor, src: torch.Tensor | None,
             dst: torch.Tensor | None, n: int | None) -> torch.Tensor:
        if self.in_index is not None:
            x1 = x1.index_select(1, self.in_index)
        inputs = [t.to(self.dtype).contiguous() for t in (weights, x1, x2)]
        if dst is None:
            [out] = self.poly(inputs)
        else:
            [out] = self.poly(inputs, input_indices={1: src}, output_indices={0: dst},
                              output_shapes={0: weights.new_empty((n, 1))})
        return out if self.out_index is None else out.index_select(1, self.out_index)

    def forward(self, x1: torch.Tensor, weights: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return self._run(x1, weights, x2, None, None, None)

    def aggregate(self, x1: torch.Tensor, weights: torch.Tensor, src: torch.Tensor, dst: torch.Tensor, n: int,
                  x2: torch.Tensor) -> torch.Tensor:
        return self._run(x1, weights, x2, src, dst, n)


def adapter(tp: o3.TensorProduct, device: torch.device, dtype: torch.dtype = torch.float32) -> CueqUVUTensorProduct:
    """The adapter of ``tp`` for tensors on ``device`` of ``dtype`` (the CUDA kernel where it runs,
    else the PyTorch path), built once per structure, device and dtype (it holds no parameters:
    nothing enters the model's state)."""
    method = "uniform_1d" if device.type == "cuda" and cuda_ops_available() and uniform(tp) else "naive"
    key = (str(tp.irreps_in1), str(tp.irreps_in2), str(tp.irreps_out), method, str(device), dtype,
           tuple((i.i_in1, i.i_in2, i.i_out, i.connection_mode, i.path_weight) for i in tp.instructions))
    if key not in _ADAPTERS:
        _ADAPTERS[key] = CueqUVUTensorProduct(tp, method, dtype).to(device)
    return _ADAPTERS[key]
