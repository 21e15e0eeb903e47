// Scalar references of the training kernels in double (see grad_ref.h): forwards and VJPs from the chain rule,
// one loop nest each, no blocking, no threads. The derivative of each op is written next to its forward:
//   linear      dx = dy w, dw = dyᵀ x, db = Σ_t dy
//   embedding   dtable[id] += dout
//   rmsnorm     dx = r g - x r³ (Σ g x) / C with g = dy w', dw = Σ_t dy x r
//   rope        the rotation by -θ: the transpose of [[c, -s], [s, c]] per feature pair
//   attention   dv = Pᵀ dO, dS = P (dO vᵀ - Σ_j P dO vᵀ), soft-cap by (1 - tanh²), dq = scale dS k, dk = scale dSᵀ q
//   gated act   dgate = dy up act'(gate), dup = dy act(gate)
//   softcap     dx = dy (1 - tanh²(x / cap))
//   xent        d logits = softmax - onehot
#include "tensor/ref/grad_ref.h"

#include <cmath>

#include "tensor/kernel_util.h"

namespace slm::ref {

DArray to_double(const Tensor& t) {
  DArray a(t.shape());
  std::vector<float> f = t.to_f32_vector();
  for (size_t i = 0; i < f.size(); ++i) a.v[i] = double(f[i]);
  return a;
}

Tensor to_f32(const DArray& a) {
  Tensor t = Tensor::empty(a.shape);
  for (int64_t i = 0; i < a.numel(); ++i) t.data<float>()[i] = float(a[i]);
  return t;
}

std::vector<int32_t> to_ids(const Tensor& t) {
  if (!t.defined()) return {};
  Tensor c = t.contiguous();
  SLM_CHECK(c.dtype() == DType::I32, "[grad_ref] ids must be I32");
  return std::vector<int32_t>(c.data<int32_t>(), c.data<int32_t>() + c.numel());
}

// ---- linear ---------------------------------------------------------------------------------------
DArray linear_fwd(const DArray& x, const DArray& w, const DArray* b) {
  const int64_t T = x.size(0), K = x.size(1), N = w.size(0);
  DArray y({T, N});
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < N; ++n) {
      double acc = b ? (*b)[n] : 0.0;
      for (int64_t k = 0; k < K; ++k) acc += x[t * K + k] * w[n * K + k];
      y[t * N + n] = acc;
    }
  return y;
}

LinearGrads linear_vjp(const DArray& dy, const DArray& x, const DArray& w) {
  const int64_t T = dy.size(0), N = dy.size(1), K = w.size(1);
  LinearGrads g{DArray({T, K}), DArray({N, K}), DArray({N})};
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < N; ++n) {
      const double d = dy[t * N + n];
      g.db[n] += d;
      for (int64_t k = 0; k < K; ++k) {
        g.dx[t * K + k] += d * w[n * K + k];
        if (x.numel()) g.dw[n * K + k] += d * x[t * K + k];
      }
    }
  return g;
}

// ---- embedding ------------------------------------------------------------------------------------
DArray embedding_fwd(const DArray& table, const std::vector<int32_t>& ids) {
  const int64_t T = int64_t(ids.size()), C = table.size(1);
  DArray out({T, C});
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < C; ++c) out[t * C + c] = table[int64_t(ids[size_t(t)]) * C + c];
  return out;
}

DArray embedding_vjp(const DArray& dout, const std::vector<int32_t>& ids, int64_t V) {
  const int64_t T = int64_t(ids.size()), C = dout.size(1);
  DArray d({V, C});
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < C; ++c) d[int64_t(ids[size_t(t)]) * C + c] += dout[t * C + c];
  return d;
}

// ---- RMSNorm --------------------------------------------------------------------------------------
static double rms_inv(const DArray& x, int64_t t, int64_t C, double eps) {
  double ss = 0.0;
  for (int64_t c = 0; c < C; ++c) ss += x[t * C + c] * x[t * C + c];
  return 1.0 / std::sqrt(ss / double(C) + eps);
}

DArray rmsnorm_fwd(const DArray& x, const DArray& w, double eps, bool unit_offset) {
  const int64_t T = x.size(0), C = x.size(1);
  DArray y({T, C});
  for (int64_t t = 0; t < T; ++t) {
    const double r = rms_inv(x, t, C, eps);
    for (int64_t c = 0; c < C; ++c) y[t * C + c] = x[t * C + c] * r * (unit_offset ? 1.0 + w[c] : w[c]);
  }
  return y;
}

RmsNormGrads rmsnorm_vjp(const DArray& dy, const DArray& x, const DArray& w, double eps, bool unit_offset) {
  const int64_t T = x.size(0), C = x.size(1);
  RmsNormGrads g{DArray({T, C}), DArray({C})};
  for (int64_t t = 0; t < T; ++t) {
    const double r = rms_inv(x, t, C, eps);
    double gx = 0.0;  // Σ_c dy w' x
    for (int64_t c = 0; c < C; ++c) gx += dy[t * C + c] * (unit_offset ? 1.0 + w[c] : w[c]) * x[t * C + c];
    for (int64_t c = 0; c < C; ++c) {
      const double gc = dy[t * C + c] * (unit_offset ? 1.0 + w[c] : w[c]);
      g.dx[t * C + c] = r * gc - x[t * C + c] * r * r * r * gx / double(C);
      g.dw[c] += dy[t * C + c] * x[t * C + c] * r;
    }
  }
  return g;
}

// ---- RoPE -----------------------------------------------------------------------------------------
DRope rope_to_double(const RopeTable& t) { return DRope{to_double(t.cos), to_double(t.sin), t.rotary_dim}; }

// out = M x per feature pair (d, d + half) with M = [[c_d, -s_d], [s_{d+h}, c_{d+h}]]; the VJP applies Mᵀ.
static DArray rope_pairs(const DArray& x, const DRope& t, bool transpose) {
  const int64_t T = x.size(0), H = x.size(1), D = x.size(2), rot = t.rotary_dim, half = rot / 2;
  DArray out = x;  // pass-through features unchanged
  for (int64_t i = 0; i < T; ++i)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t d = 0; d < half; ++d) {
        const int64_t base = (i * H + h) * D;
        const double a = x[base + d], b = x[base + d + half];
        const double c0 = t.cos[i * rot + d], s0 = t.sin[i * rot + d];
        const double c1 = t.cos[i * rot + d + half], s1 = t.sin[i * rot + d + half];
        if (!transpose) {
          out[base + d] = a * c0 - b * s0;
          out[base + d + half] = b * c1 + a * s1;
        } else {
          out[base + d] = a * c0 + b * s1;
          out[base + d + half] = -a * s0 + b * c1;
        }
      }
  return out;
}

DArray rope_fwd(const DArray& x, const DRope& t) { return rope_pairs(x, t, false); }
DArray rope_vjp(const DArray& dy, const DRope& t) { return rope_pairs(dy, t, true); }

// ---- attention ------------------------------------------------------------------------------------
DAttnParams attn_params(const TrainAttnParams& p) {
  return DAttnParams{double(p.scale), double(p.softcap), p.window, to_ids(p.segments), p.bf16};
}

bool attn_visible(const DAttnParams& p, int64_t i, int64_t j) {
  if (j > i) return false;
  if (p.window > 0 && i - j >= p.window) return false;
  return p.segments.empty() || p.segments[size_t(i)] == p.segments[size_t(j)];
}

namespace {

struct AttnDims {
  int64_t T, H, Hkv, D;
};

AttnDims dims(const DArray& q, const DArray& k) { return AttnDims{q.size(0), q.size(1), k.size(1), q.size(2)}; }

// Raw logit z = scale q_i·k_j of head h.
double raw_logit(const DArray& q, const DArray& k, const AttnDims& a, const DAttnParams& p, int64_t i, int64_t j,
                 int64_t h) {
  const int64_t hk = h / (a.H / a.Hkv);
  double dot = 0.0;
  for (int64_t d = 0; d < a.D; ++d) dot += q[(i * a.H + h) * a.D + d] * k[(j * a.Hkv + hk) * a.D + d];
  return dot * p.scale;
}

// What a product reads: x itself, or x rounded to bf16 in bf16 mode.
double operand(double x, const DAttnParams& p) { return p.bf16 ? double(round_bf16(float(x))) : x; }
DArray operands(const DArray& x, const DAttnParams& p) {
  DArray r = x;
  for (double& e : r.v) e = operand(e, p);
  return r;
}

double capped(double z, double cap) { return cap > 0.0 ? cap * std::tanh(z / cap) : z; }

// Probabilities of row (i, h) over all keys (0 where masked); returns the row's log-sum-exp.
double row_probs(const DArray& q, const DArray& k, const AttnDims& a, const DAttnParams& p, int64_t i, int64_t h,
                 std::vector<double>& prob) {
  prob.assign(size_t(a.T), 0.0);
  double mx = -INFINITY;
  for (int64_t j = 0; j < a.T; ++j)
    if (attn_visible(p, i, j)) mx = std::max(mx, prob[size_t(j)] = capped(raw_logit(q, k, a, p, i, j, h), p.softcap));
  double sum = 0.0;
  for (int64_t j = 0; j < a.T; ++j)
    if (attn_visible(p, i, j)) sum += std::exp(prob[size_t(j)] - mx);
  const double lse = mx + std::log(sum);
  for (int64_t j = 0; j < a.T; ++j) prob[size_t(j)] = attn_visible(p, i, j) ? std::exp(prob[size_t(j)] - lse) : 0.0;
  return lse;
}

}  // namespace

AttnFwd attention_train_fwd(const DArray& q_in, const DArray& k_in, const DArray& v_in, const DAttnParams& p) {
  const DArray q = operands(q_in, p), k = operands(k_in, p), v = operands(v_in, p);
  const AttnDims a = dims(q, k);
  AttnFwd f{DArray({a.T, a.H, a.D}), DArray({a.T, a.H})};
  std::vector<double> prob;
  for (int64_t h = 0; h < a.H; ++h) {
    const int64_t hk = h / (a.H / a.Hkv);
    for (int64_t i = 0; i < a.T; ++i) {
      f.lse[i * a.H + h] = row_probs(q, k, a, p, i, h, prob);
      for (int64_t j = 0; j < a.T; ++j)
        for (int64_t d = 0; d < a.D; ++d)
          f.out[(i * a.H + h) * a.D + d] += operand(prob[size_t(j)], p) * v[(j * a.Hkv + hk) * a.D + d];
    }
  }
  return f;
}

AttnGrads attention_train_vjp(const DArray& dout, const DArray& q_in, const DArray& k_in, const DArray& v_in,
                              const DAttnParams& p) {
  const DArray q = operands(q_in, p), k = operands(k_in, p), v = operands(v_in, p), dr = operands(dout, p);
  const AttnDims a = dims(q, k);
  // bf16 mode: Σ_j p_j dp_j is taken as the kernels take it, dout · out with the forward's rounded probabilities.
  const DArray out = p.bf16 ? attention_train_fwd(q_in, k_in, v_in, p).out : DArray();
  AttnGrads g{DArray(q.shape), DArray(k.shape), DArray(v.shape)};
  std::vector<double> prob, dp(size_t(a.T));
  for (int64_t h = 0; h < a.H; ++h) {
    const int64_t hk = h / (a.H / a.Hkv);
    for (int64_t i = 0; i < a.T; ++i) {
      row_probs(q, k, a, p, i, h, prob);
      const double* dyi = &dr.v[size_t((i * a.H + h) * a.D)];
      double pdp = 0.0;  // Σ_j p_j dp_j
      for (int64_t j = 0; j < a.T; ++j) {
        double s = 0.0;
        for (int64_t d = 0; d < a.D; ++d) s += dyi[d] * v[(j * a.Hkv + hk) * a.D + d];
        dp[size_t(j)] = s;
        pdp += prob[size_t(j)] * s;
      }
      if (p.bf16) {
        pdp = 0.0;
        for (int64_t d = 0; d < a.D; ++d) pdp += dout[(i * a.H + h) * a.D + d] * out[(i * a.H + h) * a.D + d];
      }
      for (int64_t j = 0; j < a.T; ++j) {
        if (!attn_visible(p, i, j)) continue;
        double dz = prob[size_t(j)] * (dp[size_t(j)] - pdp);  // d loss / d capped logit
        if (p.softcap > 0.0) {
          const double th = std::tanh(raw_logit(q, k, a, p, i, j, h) / p.softcap);
          dz *= 1.0 - th * th;
        }
        dz = operand(dz * p.scale, p);  // d loss / d (q·k)
        const double pj = operand(prob[size_t(j)], p);
        for (int64_t d = 0; d < a.D; ++d) {
          g.dq[(i * a.H + h) * a.D + d] += dz * k[(j * a.Hkv + hk) * a.D + d];
          g.dk[(j * a.Hkv + hk) * a.D + d] += dz * q[(i * a.H + h) * a.D + d];
          g.dv[(j * a.Hkv + hk) * a.D + d] += pj * dyi[d];
        }
      }
    }
  }
  return g;
}

// ---- elementwise ----------------------------------------------------------------------------------
namespace {
constexpr double kBeta = 0.79788456080286535588;  // sqrt(2/pi)
constexpr double kKappa = 0.044715;
}  // namespace

double act_fwd(double x, Activation act) {
  switch (act) {
    case Activation::SiLU:
      return x / (1.0 + std::exp(-x));
    case Activation::GeluTanh:
      return 0.5 * x * (1.0 + std::tanh(kBeta * (x + kKappa * x * x * x)));
    case Activation::Gelu:
      return 0.5 * x * (1.0 + std::erf(x * M_SQRT1_2));
  }
  return 0.0;
}

double act_deriv(double x, Activation act) {
  switch (act) {
    case Activation::SiLU: {
      const double s = 1.0 / (1.0 + std::exp(-x));
      return s * (1.0 + x * (1.0 - s));
    }
    case Activation::GeluTanh: {
      const double th = std::tanh(kBeta * (x + kKappa * x * x * x));
      return 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * kBeta * (1.0 + 3.0 * kKappa * x * x);
    }
    case Activation::Gelu:
      return 0.5 * (1.0 + std::erf(x * M_SQRT1_2)) + x * std::exp(-0.5 * x * x) * (0.5 * M_2_SQRTPI * M_SQRT1_2);
  }
  return 0.0;
}

DArray gated_act_fwd(const DArray& gate, const DArray& up, Activation act) {
  DArray y(gate.shape);
  for (int64_t i = 0; i < y.numel(); ++i) y[i] = act_fwd(gate[i], act) * up[i];
  return y;
}

GatedGrads gated_act_vjp(const DArray& dy, const DArray& gate, const DArray& up, Activation act) {
  GatedGrads g{DArray(gate.shape), DArray(gate.shape)};
  for (int64_t i = 0; i < dy.numel(); ++i) {
    g.dgate[i] = dy[i] * up[i] * act_deriv(gate[i], act);
    g.dup[i] = dy[i] * act_fwd(gate[i], act);
  }
  return g;
}

DArray softcap_fwd(const DArray& x, double cap) {
  DArray y(x.shape);
  for (int64_t i = 0; i < y.numel(); ++i) y[i] = cap * std::tanh(x[i] / cap);
  return y;
}

DArray softcap_vjp(const DArray& dy, const DArray& x, double cap) {
  DArray dx(x.shape);
  for (int64_t i = 0; i < dx.numel(); ++i) {
    const double th = std::tanh(x[i] / cap);
    dx[i] = dy[i] * (1.0 - th * th);
  }
  return dx;
}

// ---- cross-entropy --------------------------------------------------------------------------------
CrossEntropyRef cross_entropy(const DArray& logits, const std::vector<int32_t>& labels, double grad_scale) {
  const int64_t T = logits.size(0), V = logits.size(1);
  CrossEntropyRef r{0.0, 0, DArray({T, V})};
  for (int64_t t = 0; t < T; ++t) {
    const int32_t y = labels[size_t(t)];
    if (y == -100) continue;
    SLM_CHECK(y >= 0 && y < V, "[grad_ref] cross_entropy: label " + std::to_string(y) + " outside [0, V)");
    const double* l = &logits.v[size_t(t * V)];
    double mx = -INFINITY, sum = 0.0;
    for (int64_t c = 0; c < V; ++c) mx = std::max(mx, l[c]);
    for (int64_t c = 0; c < V; ++c) sum += std::exp(l[c] - mx);
    const double lse = mx + std::log(sum);
    r.loss_sum += lse - l[y];
    r.count += 1;
    for (int64_t c = 0; c < V; ++c) r.dlogits[t * V + c] = grad_scale * (std::exp(l[c] - lse) - (c == y ? 1.0 : 0.0));
  }
  return r;
}

}  // namespace slm::ref
