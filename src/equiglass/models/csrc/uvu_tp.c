/* Depthwise ("uvu") tensor-product convolution of equivariant node features on CPU, fused with
 * the sum over incoming edges.  Forward:
 *
 *   out[n, oo_b + c*mul_b + u] = sum_{e: dst[e] = n}  s_e(c) w[q_e, colw[c] + u]
 *                                  * sum_i x[src[e], io_b + i*mul_b + u] * M[q_e, moff_b + c*d1_b + i]
 *
 * for every input block b (mul_b channels of an irrep of dimension d1_b), output column c of the
 * block (one (path, k) pair) and channel u.  M holds, per undirected pair q, the path-normalized
 * Wigner-3j couplings contracted with the pair's spherical harmonics; an edge running against its
 * pair's direction (rev[e] = 1) sees Y_l(-r) = (-1)^l Y_l(r), i.e. the column sign colsign[c].
 * Edges are sorted by destination (CSR pointers ptr), so each output row is summed in one place
 * and in a fixed order (deterministic).  Backward: the gradients with respect to x (summed into
 * gx rows of the sources) and w (summed into gw rows of the pairs); M carries no gradient.
 *
 * Shapes (row-major, float32): x (N, x_stride), M (P, m_stride), w (P, w_stride),
 * out/G (N, o_stride), gx (N, x_stride), gw (P, w_stride); src, pair (E,), rev (E,) uint8,
 * ptr (N+1,).  blocks: nb rows of (io, mul, d1, D, moff, oo, c0); colw, colsign: per column.
 * Rows [n0, n1) of destinations are processed: threads take disjoint ranges (the caller gives
 * each its own gx/gw accumulators in backward).
 */
#include <stdint.h>

typedef int64_t i64;

#define BLOCK_FWD(MUL)                                                                            \
  static void fwd_block_##MUL(const float *restrict xs, const float *restrict Mq,                 \
                              const float *restrict wq, float *restrict on, i64 d1, i64 D,         \
                              const i64 *restrict colw, const float *restrict colsign, int rev) {  \
    for (i64 c = 0; c < D; ++c) {                                                                 \
      const float *restrict m = Mq + c * d1;                                                      \
      const float *restrict wc = wq + colw[c];                                                    \
      const float s = rev ? colsign[c] : 1.0f;                                                    \
      float acc[MUL];                                                                             \
      for (int u = 0; u < MUL; ++u) acc[u] = xs[u] * m[0];                                        \
      for (i64 i = 1; i < d1; ++i)                                                                \
        for (int u = 0; u < MUL; ++u) acc[u] += xs[i * MUL + u] * m[i];                           \
      float *restrict o = on + c * MUL;                                                           \
      for (int u = 0; u < MUL; ++u) o[u] += s * acc[u] * wc[u];                                   \
    }                                                                                             \
  }

#define BLOCK_BWD(MUL)                                                                            \
  static void bwd_block_##MUL(const float *restrict xs, const float *restrict Mq,                 \
                              const float *restrict wq, const float *restrict gn,                  \
                              float *restrict gxs, float *restrict gwq, i64 d1, i64 D,             \
                              const i64 *restrict colw, const float *restrict colsign, int rev) {  \
    for (i64 c = 0; c < D; ++c) {                                                                 \
      const float *restrict m = Mq + c * d1;                                                      \
      const float *restrict wc = wq + colw[c];                                                    \
      float *restrict gwc = gwq + colw[c];                                                        \
      const float s = rev ? colsign[c] : 1.0f;                                                    \
      const float *restrict g = gn + c * MUL;                                                     \
      float y[MUL], gy[MUL];                                                                      \
      for (int u = 0; u < MUL; ++u) y[u] = xs[u] * m[0];                                          \
      for (i64 i = 1; i < d1; ++i)                                                                \
        for (int u = 0; u < MUL; ++u) y[u] += xs[i * MUL + u] * m[i];                             \
      for (int u = 0; u < MUL; ++u) {                                                             \
        const float sg = s * g[u];                                                                \
        gwc[u] += sg * y[u];                                                                      \
        gy[u] = sg * wc[u];                                                                       \
      }                                                                                           \
      for (i64 i = 0; i < d1; ++i)                                                                \
        for (int u = 0; u < MUL; ++u) gxs[i * MUL + u] += gy[u] * m[i];                           \
    }                                                                                             \
  }

BLOCK_FWD(4)
BLOCK_FWD(8)
BLOCK_FWD(16)
BLOCK_FWD(32)
BLOCK_BWD(4)
BLOCK_BWD(8)
BLOCK_BWD(16)
BLOCK_BWD(32)

static void fwd_block_any(const float *restrict xs, const float *restrict Mq,
                          const float *restrict wq, float *restrict on, i64 mul, i64 d1, i64 D,
                          const i64 *restrict colw, const float *restrict colsign, int rev) {
  for (i64 c = 0; c < D; ++c) {
    const float *restrict m = Mq + c * d1;
    const float *restrict wc = wq + colw[c];
    const float s = rev ? colsign[c] : 1.0f;
    for (i64 u = 0; u < mul; ++u) {
      float acc = 0.0f;
      for (i64 i = 0; i < d1; ++i) acc += xs[i * mul + u] * m[i];
      on[c * mul + u] += s * acc * wc[u];
    }
  }
}

static void bwd_block_any(const float *restrict xs, const float *restrict Mq,
                          const float *restrict wq, const float *restrict gn, float *restrict gxs,
                          float *restrict gwq, i64 mul, i64 d1, i64 D, const i64 *restrict colw,
                          const float *restrict colsign, int rev) {
  for (i64 c = 0; c < D; ++c) {
    const float *restrict m = Mq + c * d1;
    const float s = rev ? colsign[c] : 1.0f;
    for (i64 u = 0; u < mul; ++u) {
      float y = 0.0f;
      for (i64 i = 0; i < d1; ++i) y += xs[i * mul + u] * m[i];
      const float sg = s * gn[c * mul + u];
      gwq[colw[c] + u] += sg * y;
      const float gy = sg * wq[colw[c] + u];
      for (i64 i = 0; i < d1; ++i) gxs[i * mul + u] += gy * m[i];
    }
  }
}

void uvu_forward(const float *restrict x, i64 x_stride, const float *restrict M, i64 m_stride,
                 const float *restrict w, i64 w_stride, const i64 *restrict src,
                 const i64 *restrict pair, const uint8_t *restrict rev, const i64 *restrict ptr,
                 i64 n0, i64 n1, const i64 *restrict blocks, i64 nb, const i64 *restrict colw,
                 const float *restrict colsign, float *restrict out, i64 o_stride) {
  for (i64 n = n0; n < n1; ++n) {
    float *restrict on = out + n * o_stride;
    for (i64 e = ptr[n]; e < ptr[n + 1]; ++e) {
      const float *restrict xr = x + src[e] * x_stride;
      const float *restrict Mq = M + pair[e] * m_stride;
      const float *restrict wq = w + pair[e] * w_stride;
      const int r = rev[e];
      for (i64 b = 0; b < nb; ++b) {
        const i64 *bi = blocks + 7 * b;
        const i64 io = bi[0], mul = bi[1], d1 = bi[2], D = bi[3], moff = bi[4], oo = bi[5], c0 = bi[6];
        switch (mul) {
          case 4: fwd_block_4(xr + io, Mq + moff, wq, on + oo, d1, D, colw + c0, colsign + c0, r); break;
          case 8: fwd_block_8(xr + io, Mq + moff, wq, on + oo, d1, D, colw + c0, colsign + c0, r); break;
          case 16: fwd_block_16(xr + io, Mq + moff, wq, on + oo, d1, D, colw + c0, colsign + c0, r); break;
          case 32: fwd_block_32(xr + io, Mq + moff, wq, on + oo, d1, D, colw + c0, colsign + c0, r); break;
          default: fwd_block_any(xr + io, Mq + moff, wq, on + oo, mul, d1, D, colw + c0, colsign + c0, r);
        }
      }
    }
  }
}

void uvu_backward(const float *restrict x, i64 x_stride, const float *restrict M, i64 m_stride,
                  const float *restrict w, i64 w_stride, const i64 *restrict src,
                  const i64 *restrict pair, const uint8_t *restrict rev, const i64 *restrict ptr,
                  i64 n0, i64 n1, const i64 *restrict blocks, i64 nb, const i64 *restrict colw,
                  const float *restrict colsign, const float *restrict G, i64 o_stride,
                  float *restrict gx, float *restrict gw) {
  for (i64 n = n0; n < n1; ++n) {
    const float *restrict gn = G + n * o_stride;
    for (i64 e = ptr[n]; e < ptr[n + 1]; ++e) {
      const float *restrict xr = x + src[e] * x_stride;
      float *restrict gxr = gx + src[e] * x_stride;
      const float *restrict Mq = M + pair[e] * m_stride;
      const float *restrict wq = w + pair[e] * w_stride;
      float *restrict gwq = gw + pair[e] * w_stride;
      const int r = rev[e];
      for (i64 b = 0; b < nb; ++b) {
        const i64 *bi = blocks + 7 * b;
        const i64 io = bi[0], mul = bi[1], d1 = bi[2], D = bi[3], moff = bi[4], oo = bi[5], c0 = bi[6];
        switch (mul) {
          case 4: bwd_block_4(xr + io, Mq + moff, wq, gn + oo, gxr + io, gwq, d1, D, colw + c0, colsign + c0, r); break;
          case 8: bwd_block_8(xr + io, Mq + moff, wq, gn + oo, gxr + io, gwq, d1, D, colw + c0, colsign + c0, r); break;
          case 16: bwd_block_16(xr + io, Mq + moff, wq, gn + oo, gxr + io, gwq, d1, D, colw + c0, colsign + c0, r); break;
          case 32: bwd_block_32(xr + io, Mq + moff, wq, gn + oo, gxr + io, gwq, d1, D, colw + c0, colsign + c0, r); break;
          default: bwd_block_any(xr + io, Mq + moff, wq, gn + oo, gxr + io, gwq, mul, d1, D, colw + c0, colsign + c0, r);
        }
      }
    }
  }
}
