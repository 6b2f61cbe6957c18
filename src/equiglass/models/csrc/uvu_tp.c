/* Depthwise ("uvu") tensor-product convolution of equivariant node features on CPU, fused with
 * the sum over incoming edges.  Forward:
 *
 *   out[n, oo_b + (c*G_b + g)*mul_b + u] = sum_{e: dst[e] = n}  s_e(c) w[q_e, colw[c*G_b + g] + u]
 *            * sum_i x[src[e], io_b + (i*G_b + g)*mul_b + u] * M[q_e, moff_b + c*d1_b + i]
 *
 * for every group b of G_b input blocks that share their couplings (an irrep of dimension d1_b with
 * both parities: the same Wigner-3j paths), output column c of the group (one (path, k) pair), block
 * g of the group and channel u.  The G_b*mul_b channels of a group are one vector: the couplings of
 * a column are loaded once for all of them.  M holds, per undirected pair q, the path-normalized
 * Wigner-3j couplings contracted with the pair's spherical harmonics; an edge running against its
 * pair's direction (rev[e] = 1) sees Y_l(-r) = (-1)^l Y_l(r), i.e. the column sign colsign[c].
 * Edges are sorted by destination (CSR pointers ptr), so each output row is summed in one place
 * and in a fixed order (deterministic).  Backward: the gradients with respect to x (summed into
 * gx rows of the sources) and w (summed into gw rows of the pairs); M carries no gradient.
 *
 * Shapes (row-major, float32): x (N, x_stride), M (P, m_stride), w (P, w_stride),
 * out/G (N, o_stride), gx (N, x_stride), gw (P, w_stride); src, pair (E,), rev (E,) uint8,
 * ptr (N+1,).  groups: ng rows of (io, mul, G, d1, D, moff, oo, c0, w0): c0 the group's first
 * column in colsign (per column), w0 its first entry in colw (per (column, block)).  Rows [n0, n1) of destinations are processed: threads take disjoint ranges
 * (the caller gives each its own gx/gw accumulators in backward).
 */
#include <stdint.h>

typedef int64_t i64;

#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

/* G = 1 or 2 blocks of MUL channels.  The loops below are written as GCC (12, -O3 -march=native)
 * vectorizes them best, measured on the quick model (forward: weights read before the products;
 * backward: a loop over the blocks): small changes of statement order cost up to 2x. */
#define GROUP_FWD(MUL, G)                                                                          \
  static void fwd_##MUL##_##G(const float *restrict xs, const float *restrict m0,                 \
                              const float *restrict wq, float *restrict on, i64 d1, i64 D,         \
                              const i64 *restrict colw, const float *restrict colsign, int rev) {  \
    for (i64 c = 0; c < D; ++c) {                                                                 \
      const float *restrict m = m0 + c * d1;                                                      \
      const float s = rev ? colsign[c] : 1.0f;                                                    \
      const float *restrict wa = wq + colw[G * c];                                                \
      const float *restrict wb = wq + colw[G * c + G - 1];                                        \
      float acc[G * MUL];                                                                         \
      for (int u = 0; u < G * MUL; ++u) acc[u] = xs[u] * m[0];                                    \
      for (i64 i = 1; i < d1; ++i)                                                                \
        for (int u = 0; u < G * MUL; ++u) acc[u] += xs[i * G * MUL + u] * m[i];                   \
      float *restrict o = on + c * G * MUL;                                                       \
      for (int u = 0; u < MUL; ++u) o[u] += s * acc[u] * wa[u];                                   \
      if (G == 2)                                                                                 \
        for (int u = 0; u < MUL; ++u) o[MUL + u] += s * acc[MUL + u] * wb[u];                     \
    }                                                                                             \
  }

#define GROUP_BWD(MUL, G)                                                                          \
  static void bwd_##MUL##_##G(const float *restrict xs, const float *restrict Mq,                 \
                              const float *restrict wq, const float *restrict gn,                  \
                              float *restrict gxs, float *restrict gwq, i64 d1, i64 D,             \
                              const i64 *restrict colw, const float *restrict colsign, int rev) {  \
    enum { L = MUL * G };                                                                          \
    for (i64 c = 0; c < D; ++c) {                                                                 \
      const float *restrict m = Mq + c * d1;                                                      \
      const float s = rev ? colsign[c] : 1.0f;                                                    \
      const float *restrict g_ = gn + c * L;                                                      \
      float y[L], gy[L];                                                                          \
      for (int u = 0; u < L; ++u) y[u] = xs[u] * m[0];                                            \
      for (i64 i = 1; i < d1; ++i)                                                                \
        for (int u = 0; u < L; ++u) y[u] += xs[i * L + u] * m[i];                                 \
      for (int g = 0; g < G; ++g) {                                                               \
        const float *restrict wc = wq + colw[c * G + g];                                          \
        float *restrict gwc = gwq + colw[c * G + g];                                              \
        for (int u = 0; u < MUL; ++u) {                                                           \
          const float sg = s * g_[g * MUL + u];                                                   \
          gwc[u] += sg * y[g * MUL + u];                                                          \
          gy[g * MUL + u] = sg * wc[u];                                                           \
        }                                                                                         \
      }                                                                                           \
      for (i64 i = 0; i < d1; ++i)                                                                \
        for (int u = 0; u < L; ++u) gxs[i * L + u] += gy[u] * m[i];                               \
    }                                                                                             \
  }

/* The loops over destinations, their edges and the groups, specialized for layers whose groups all
 * have the same (MUL, G) (every layer of the SE(3) GNN: the first has one group of scalars, the
 * others both parities of each l): one function per case, not inlined into the dispatcher, lets
 * GCC vectorize the inlined body as it does alone (measured: 2x over dispatching per edge). */
#define EDGE_LOOPS(MUL, G)                                                                         \
  NOINLINE static void fwd_loop_##MUL##_##G(FWD_ARGS) {                                            \
    for (i64 n = n0; n < n1; ++n)                                                                 \
      for (i64 e = ptr[n]; e < ptr[n + 1]; ++e)                                                   \
        for (i64 b = 0; b < ng; ++b) {                                                            \
          const i64 *gi = groups + 9 * b;                                                         \
          fwd_##MUL##_##G(x + src[e] * x_stride + gi[0], M + pair[e] * m_stride + gi[5],         \
                          w + pair[e] * w_stride, out + n * o_stride + gi[6], gi[3], gi[4],       \
                          colw + gi[8], colsign + gi[7], rev[e]);                                 \
        }                                                                                         \
  }                                                                                               \
  NOINLINE static void bwd_loop_##MUL##_##G(BWD_ARGS) {                                            \
    for (i64 n = n0; n < n1; ++n)                                                                 \
      for (i64 e = ptr[n]; e < ptr[n + 1]; ++e)                                                   \
        for (i64 b = 0; b < ng; ++b) {                                                            \
          const i64 *gi = groups + 9 * b;                                                         \
          bwd_##MUL##_##G(x + src[e] * x_stride + gi[0], M + pair[e] * m_stride + gi[5],         \
                          w + pair[e] * w_stride, Gr + n * o_stride + gi[6],                      \
                          gx + src[e] * x_stride + gi[0], gw + pair[e] * w_stride, gi[3], gi[4],  \
                          colw + gi[8], colsign + gi[7], rev[e]);                                 \
        }                                                                                         \
  }

#define COMMON_ARGS                                                                               \
  const float *restrict x, i64 x_stride, const float *restrict M, i64 m_stride,                   \
      const float *restrict w, i64 w_stride, const i64 *restrict src, const i64 *restrict pair,   \
      const uint8_t *restrict rev, const i64 *restrict ptr, i64 n0, i64 n1,                       \
      const i64 *restrict groups, i64 ng, const i64 *restrict colw, const float *restrict colsign
#define FWD_ARGS COMMON_ARGS, float *restrict out, i64 o_stride
#define BWD_ARGS COMMON_ARGS, const float *restrict Gr, i64 o_stride, float *restrict gx, float *restrict gw

GROUP_FWD(4, 1)
GROUP_FWD(4, 2)
GROUP_FWD(8, 1)
GROUP_FWD(8, 2)
GROUP_FWD(16, 1)
GROUP_FWD(16, 2)
GROUP_FWD(32, 1)
GROUP_FWD(32, 2)
GROUP_BWD(4, 1)
GROUP_BWD(4, 2)
GROUP_BWD(8, 1)
GROUP_BWD(8, 2)
GROUP_BWD(16, 1)
GROUP_BWD(16, 2)
GROUP_BWD(32, 1)
GROUP_BWD(32, 2)
EDGE_LOOPS(4, 1)
EDGE_LOOPS(4, 2)
EDGE_LOOPS(8, 1)
EDGE_LOOPS(8, 2)
EDGE_LOOPS(16, 1)
EDGE_LOOPS(16, 2)
EDGE_LOOPS(32, 1)
EDGE_LOOPS(32, 2)

static void fwd_any(const float *restrict xs, const float *restrict Mq, const float *restrict wq,
                    float *restrict on, i64 mul, i64 G, i64 d1, i64 D, const i64 *restrict colw,
                    const float *restrict colsign, int rev) {
  const i64 L = mul * G;
  for (i64 c = 0; c < D; ++c) {
    const float *restrict m = Mq + c * d1;
    const float s = rev ? colsign[c] : 1.0f;
    for (i64 g = 0; g < G; ++g) {
      const float *restrict wc = wq + colw[c * G + g];
      for (i64 u = 0; u < mul; ++u) {
        float acc = 0.0f;
        for (i64 i = 0; i < d1; ++i) acc += xs[i * L + g * mul + u] * m[i];
        on[c * L + g * mul + u] += s * acc * wc[u];
      }
    }
  }
}

static void bwd_any(const float *restrict xs, const float *restrict Mq, const float *restrict wq,
                    const float *restrict gn, float *restrict gxs, float *restrict gwq, i64 mul,
                    i64 G, i64 d1, i64 D, const i64 *restrict colw, const float *restrict colsign,
                    int rev) {
  const i64 L = mul * G;
  for (i64 c = 0; c < D; ++c) {
    const float *restrict m = Mq + c * d1;
    const float s = rev ? colsign[c] : 1.0f;
    for (i64 g = 0; g < G; ++g) {
      const i64 wo = colw[c * G + g];
      for (i64 u = 0; u < mul; ++u) {
        const i64 k = g * mul + u;
        float y = 0.0f;
        for (i64 i = 0; i < d1; ++i) y += xs[i * L + k] * m[i];
        const float sg = s * gn[c * L + k];
        gwq[wo + u] += sg * y;
        const float gy = sg * wq[wo + u];
        for (i64 i = 0; i < d1; ++i) gxs[i * L + k] += gy * m[i];
      }
    }
  }
}

#define CASES(CALL)                                                                               \
  if (mul == 8 && G == 2) CALL(8, 2)                                                               \
  else if (mul == 8 && G == 1) CALL(8, 1)                                                          \
  else if (mul == 4 && G == 2) CALL(4, 2)                                                          \
  else if (mul == 4 && G == 1) CALL(4, 1)                                                          \
  else if (mul == 16 && G == 2) CALL(16, 2)                                                        \
  else if (mul == 16 && G == 1) CALL(16, 1)                                                        \
  else if (mul == 32 && G == 2) CALL(32, 2)                                                        \
  else if (mul == 32 && G == 1) CALL(32, 1)

/* (MUL, G) shared by all groups, or (0, 0) */
static void uniform(const i64 *groups, i64 ng, i64 *mul, i64 *G) {
  *mul = groups[1];
  *G = groups[2];
  for (i64 b = 1; b < ng; ++b)
    if (groups[9 * b + 1] != *mul || groups[9 * b + 2] != *G) *mul = *G = 0;
}

void uvu_forward(const float *restrict x, i64 x_stride, const float *restrict M, i64 m_stride,
                 const float *restrict w, i64 w_stride, const i64 *restrict src,
                 const i64 *restrict pair, const uint8_t *restrict rev, const i64 *restrict ptr,
                 i64 n0, i64 n1, const i64 *restrict groups, i64 ng, const i64 *restrict colw,
                 const float *restrict colsign, float *restrict out, i64 o_stride) {
  i64 mul, G;
  uniform(groups, ng, &mul, &G);
#define FWD(A, B)                                                                                 \
  fwd_loop_##A##_##B(x, x_stride, M, m_stride, w, w_stride, src, pair, rev, ptr, n0, n1, groups, ng, \
                     colw, colsign, out, o_stride);
  CASES(FWD)
  else {
    for (i64 n = n0; n < n1; ++n)
      for (i64 e = ptr[n]; e < ptr[n + 1]; ++e)
        for (i64 b = 0; b < ng; ++b) {
          const i64 *gi = groups + 9 * b;
          fwd_any(x + src[e] * x_stride + gi[0], M + pair[e] * m_stride + gi[5], w + pair[e] * w_stride,
                  out + n * o_stride + gi[6], gi[1], gi[2], gi[3], gi[4], colw + gi[8], colsign + gi[7],
                  rev[e]);
        }
  }
#undef FWD
}

void uvu_backward(const float *restrict x, i64 x_stride, const float *restrict M, i64 m_stride,
                  const float *restrict w, i64 w_stride, const i64 *restrict src,
                  const i64 *restrict pair, const uint8_t *restrict rev, const i64 *restrict ptr,
                  i64 n0, i64 n1, const i64 *restrict groups, i64 ng, const i64 *restrict colw,
                  const float *restrict colsign, const float *restrict Gr, i64 o_stride,
                  float *restrict gx, float *restrict gw) {
  i64 mul, G;
  uniform(groups, ng, &mul, &G);
#define BWD(A, B)                                                                                 \
  bwd_loop_##A##_##B(x, x_stride, M, m_stride, w, w_stride, src, pair, rev, ptr, n0, n1, groups, ng, \
                     colw, colsign, Gr, o_stride, gx, gw);
  CASES(BWD)
  else {
    for (i64 n = n0; n < n1; ++n)
      for (i64 e = ptr[n]; e < ptr[n + 1]; ++e)
        for (i64 b = 0; b < ng; ++b) {
          const i64 *gi = groups + 9 * b;
          bwd_any(x + src[e] * x_stride + gi[0], M + pair[e] * m_stride + gi[5], w + pair[e] * w_stride,
                  Gr + n * o_stride + gi[6], gx + src[e] * x_stride + gi[0], gw + pair[e] * w_stride,
                  gi[1], gi[2], gi[3], gi[4], colw + gi[8], colsign + gi[7], rev[e]);
        }
  }
#undef BWD
}
