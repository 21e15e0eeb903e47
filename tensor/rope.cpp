// Rotary position embedding (see ops.h): inv_freq derivations, cos/sin tables and the in-place rotation.
// The derivations re-implement transformers 5 modeling_rope_utils.py (_compute_*_parameters, dynamic_rope_update)
// and the model's RotaryEmbedding.forward, emulating torch's float32 arithmetic step by step:
//   * `1.0 / t` and `c / t` on a tensor are `t.reciprocal() * c` (Tensor.__rtruediv__): two f32 roundings;
//   * `base ** (arange(0, dim, 2).float() / dim)` is an f32 pow of float(base) (libm powf here; torch's
//     vectorised Sleef pow is within 1 ulp of it, the one known source of last-bit differences);
//   * Python-scalar arithmetic (factors, correction ranges, attention factors) stays in double.
// Not here: M-RoPE / proportional RoPE, interleaved (GPT-J) pairing. Reference for rope_apply:
// tensor/ref/rope_ref.cpp (apply_rotary_pos_emb with rotate_half, partial rotary as Phi-3 slices it).
#include <algorithm>
#include <cmath>
#include <string>

#include "tensor/kernel_util.h"
#include "tensor/ops.h"

namespace slm {

namespace {

std::string rope_where(const RopeParams& p) { return "[rope] rope_type '" + p.rope_type + "'"; }

// arange(0, dim, 2, dtype=int64).float() / dim  -> (dim/2) f32 exponents.
std::vector<float> exponents(int64_t dim) {
  std::vector<float> e;
  for (int64_t i = 0; i < dim; i += 2) e.push_back(float(i) / float(dim));
  return e;
}

// base ** exponents in f32.
std::vector<float> pow_freqs(double base, int64_t dim) {
  std::vector<float> out;
  for (float e : exponents(dim)) out.push_back(std::pow(float(base), e));
  return out;
}

// 1.0 / (base ** (arange(0, dim, 2) / dim)): the default inverse frequencies.
std::vector<float> default_inv_freq(double base, int64_t dim) {
  std::vector<float> inv;
  for (float pf : pow_freqs(base, dim)) inv.push_back(1.0f / pf);
  return inv;
}

int64_t original_max(const RopeParams& p) {
  // standardize_rope_params: llama3/yarn/longrope default original_max_position_embeddings to max_position_embeddings.
  int64_t orig =
      p.original_max_position_embeddings > 0 ? p.original_max_position_embeddings : p.max_position_embeddings;
  SLM_CHECK(orig > 0, rope_where(p) + " needs original_max_position_embeddings or max_position_embeddings > 0");
  return orig;
}

double required_factor(const RopeParams& p) {
  SLM_CHECK(p.factor > 0.0, rope_where(p) + " needs a positive 'factor', got " + std::to_string(p.factor));
  return p.factor;
}

// `factor` or, when not given, max_position_embeddings / original_max_position_embeddings (yarn, longrope).
double factor_or_ratio(const RopeParams& p, int64_t orig) {
  if (p.factor > 0.0) return p.factor;
  SLM_CHECK(p.max_position_embeddings > 0, rope_where(p) + " has no 'factor' and no max_position_embeddings");
  return double(p.max_position_embeddings) / double(orig);
}

RopeFreqs rope_linear(const RopeParams& p, int64_t dim) {
  const float factor = float(required_factor(p));
  RopeFreqs f{default_inv_freq(p.rope_theta, dim), 1.0f};
  for (float& v : f.inv_freq) v /= factor;  // inv_freq /= factor
  return f;
}

// _compute_dynamic_ntk_parameters. At init (seq_len <= max_position_embeddings) seq_len is a Python int and the
// base update runs in double; from dynamic_rope_update it is a 0-d int64 tensor, so the update runs in f32
// (the final scalar pow on one element takes torch's scalar path: std::pow in double, rounded to f32).
RopeFreqs rope_dynamic(const RopeParams& p, int64_t dim, int64_t seq_len) {
  const double factor = required_factor(p);
  const int64_t max_pos = p.max_position_embeddings;
  SLM_CHECK(max_pos > 0, rope_where(p) + " needs max_position_embeddings > 0");
  SLM_CHECK(dim > 2, rope_where(p) + " needs a rotary dim > 2, got " + std::to_string(dim));
  const double expo = double(dim) / double(dim - 2);
  float base_f;
  if (seq_len <= max_pos) {
    double s = double(max_pos);
    base_f = float(p.rope_theta * std::pow((factor * s / double(max_pos)) - (factor - 1.0), expo));
  } else {
    float s = float(factor) * float(seq_len);
    s = s / float(max_pos);
    s = s - float(factor - 1.0);
    float scaled = float(std::pow(double(s), expo));
    base_f = float(p.rope_theta) * scaled;
  }
  RopeFreqs f{default_inv_freq(base_f, dim), 1.0f};
  return f;
}

double yarn_get_mscale(double scale, double mscale) {
  if (scale <= 1.0) return 1.0;
  return 0.1 * mscale * std::log(scale) + 1.0;
}

double yarn_correction_dim(double num_rotations, int64_t dim, double base, int64_t max_pos) {
  return (double(dim) * std::log(double(max_pos) / (num_rotations * 2.0 * M_PI))) / (2.0 * std::log(base));
}

RopeFreqs rope_yarn(const RopeParams& p, int64_t dim) {
  const int64_t orig = original_max(p);
  const double factor = factor_or_ratio(p, orig);
  double attention = p.attention_factor;
  if (attention == 0.0) {
    attention = (p.mscale != 0.0 && p.mscale_all_dim != 0.0)
                    ? yarn_get_mscale(factor, p.mscale) / yarn_get_mscale(factor, p.mscale_all_dim)
                    : yarn_get_mscale(factor, 1.0);
  }
  const double beta_fast = p.beta_fast != 0.0 ? p.beta_fast : 32.0;  // `get("beta_fast") or 32`
  const double beta_slow = p.beta_slow != 0.0 ? p.beta_slow : 1.0;
  // find_correction_range(beta_fast, beta_slow, dim, base, original_max_position_embeddings, truncate)
  double low = yarn_correction_dim(beta_fast, dim, p.rope_theta, orig);
  double high = yarn_correction_dim(beta_slow, dim, p.rope_theta, orig);
  if (p.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, double(dim - 1));
  if (low == high) high += 0.001;  // linear_ramp_factor: prevent singularity
  const float span = float(high - low);

  const std::vector<float> pos = pow_freqs(p.rope_theta, dim);
  RopeFreqs f;
  f.attention_scaling = float(attention);
  for (size_t i = 0; i < pos.size(); ++i) {
    float extrapolation = 1.0f / pos[i];
    float interpolation = 1.0f / (float(factor) * pos[i]);
    float ramp = std::clamp((float(int64_t(i)) - float(low)) / span, 0.0f, 1.0f);
    float extrapolation_factor = 1.0f - ramp;
    f.inv_freq.push_back(interpolation * (1.0f - extrapolation_factor) + extrapolation * extrapolation_factor);
  }
  return f;
}

RopeFreqs rope_longrope(const RopeParams& p, int64_t dim, int64_t seq_len) {
  const int64_t orig = original_max(p);
  const double factor = factor_or_ratio(p, orig);
  const size_t half = size_t(dim / 2);
  SLM_CHECK(p.short_factor.size() == half && p.long_factor.size() == half,
            rope_where(p) + ": short_factor and long_factor need rotary_dim/2 = " + std::to_string(half) +
                " entries, got " + std::to_string(p.short_factor.size()) + " and " +
                std::to_string(p.long_factor.size()));
  double attention = p.attention_factor;
  if (attention == 0.0) attention = factor <= 1.0 ? 1.0 : std::sqrt(1.0 + std::log(factor) / std::log(double(orig)));
  // longrope_frequency_update: long factors once the sequence outgrows the pretraining length.
  const std::vector<double>& ext = seq_len > orig ? p.long_factor : p.short_factor;
  const std::vector<float> pos = pow_freqs(p.rope_theta, dim);
  RopeFreqs f;
  f.attention_scaling = float(attention);
  for (size_t i = 0; i < half; ++i) f.inv_freq.push_back(1.0f / (float(ext[i]) * pos[i]));
  return f;
}

RopeFreqs rope_llama3(const RopeParams& p, int64_t dim) {
  const float factor = float(required_factor(p));
  const int64_t old_context = original_max(p);
  SLM_CHECK(p.high_freq_factor != p.low_freq_factor,
            rope_where(p) + ": high_freq_factor must differ from low_freq_factor");
  const float low_wavelen = float(double(old_context) / p.low_freq_factor);
  const float high_wavelen = float(double(old_context) / p.high_freq_factor);
  const float two_pi = float(2.0 * M_PI);
  RopeFreqs f{default_inv_freq(p.rope_theta, dim), 1.0f};
  for (float& inv : f.inv_freq) {
    float wavelen = (1.0f / inv) * two_pi;  // 2 * math.pi / inv_freq
    float llama = wavelen > low_wavelen ? inv / factor : inv;
    float smooth = ((1.0f / wavelen) * float(old_context) - float(p.low_freq_factor)) /
                   float(p.high_freq_factor - p.low_freq_factor);
    float smoothed = (1.0f - smooth) * llama / factor + smooth * llama;
    bool medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
    inv = medium ? smoothed : llama;
  }
  return f;
}

}  // namespace

int64_t rope_rotary_dim(const RopeParams& p) {
  return int64_t(double(p.head_dim) * p.partial_rotary_factor);  // Python int() truncates
}

RopeFreqs rope_freqs(const RopeParams& p, int64_t seq_len) {
  SLM_CHECK(p.head_dim > 0, "[rope] head_dim must be positive, got " + std::to_string(p.head_dim));
  SLM_CHECK(p.partial_rotary_factor > 0.0 && p.partial_rotary_factor <= 1.0,
            "[rope] partial_rotary_factor must be in (0, 1], got " + std::to_string(p.partial_rotary_factor));
  SLM_CHECK(p.rope_theta > 0.0, "[rope] rope_theta must be positive, got " + std::to_string(p.rope_theta));
  const int64_t dim = rope_rotary_dim(p);
  SLM_CHECK(dim >= 2 && dim % 2 == 0, "[rope] rotary dim int(head_dim * partial_rotary_factor) = " +
                                          std::to_string(dim) + " must be even and >= 2");
  if (p.rope_type == "default") return RopeFreqs{default_inv_freq(p.rope_theta, dim), 1.0f};
  if (p.rope_type == "linear") return rope_linear(p, dim);
  if (p.rope_type == "dynamic") return rope_dynamic(p, dim, seq_len);
  if (p.rope_type == "yarn") return rope_yarn(p, dim);
  if (p.rope_type == "longrope") return rope_longrope(p, dim, seq_len);
  if (p.rope_type == "llama3") return rope_llama3(p, dim);
  throw Error("[rope] rope_type '" + p.rope_type +
              "' is not implemented (supported: default, linear, dynamic, yarn, longrope, llama3)");
}

// RotaryEmbedding.forward: freqs = inv_freq ⊗ positions (one f32 product), emb = cat(freqs, freqs),
// cos = emb.cos() * attention_scaling.  cos/sin are taken in double and rounded once (torch's are within 1 ulp).
RopeTable rope_table(const RopeFreqs& f, const std::vector<int64_t>& positions) {
  const int64_t half = int64_t(f.inv_freq.size()), rot = 2 * half, T = int64_t(positions.size());
  SLM_CHECK(half > 0, "[rope] rope_table: empty inv_freq");
  RopeTable t{Tensor::empty({T, rot}), Tensor::empty({T, rot}), rot};
  float* cp = t.cos.data<float>();
  float* sp = t.sin.data<float>();
#pragma omp parallel for schedule(static) if (T * rot >= 16384)
  for (int64_t i = 0; i < T; ++i) {
    const float pos = float(positions[size_t(i)]);
    for (int64_t d = 0; d < half; ++d) {
      const double angle = double(f.inv_freq[size_t(d)] * pos);
      const float c = float(std::cos(angle)) * f.attention_scaling;
      const float s = float(std::sin(angle)) * f.attention_scaling;
      cp[i * rot + d] = cp[i * rot + half + d] = c;
      sp[i * rot + d] = sp[i * rot + half + d] = s;
    }
  }
  return t;
}

void rope_check(const Tensor& x, const RopeTable& t) {
  detail::check_f32(x, 3, "rope_apply x (T, H, D)");
  detail::check_f32(t.cos, 2, "rope_apply cos (T, rotary_dim)");
  detail::check_f32(t.sin, 2, "rope_apply sin (T, rotary_dim)");
  const int64_t rot = t.rotary_dim;
  SLM_CHECK(rot >= 2 && rot % 2 == 0 && rot <= x.size(2), "[rope] rope_apply: rotary_dim " + std::to_string(rot) +
                                                              " must be even, >= 2 and <= head dim " +
                                                              std::to_string(x.size(2)));
  SLM_CHECK(t.cos.shape() == (Shape{x.size(0), rot}) && t.sin.shape() == t.cos.shape(),
            "[rope] rope_apply: tables " + shape_str(t.cos.shape()) + " / " + shape_str(t.sin.shape()) +
                " do not match x " + shape_str(x.shape()) + " with rotary_dim " + std::to_string(rot));
}

void rope_apply(Tensor& x, const RopeTable& t) {
  rope_check(x, t);
  const int64_t T = x.size(0), H = x.size(1), D = x.size(2), rot = t.rotary_dim, half = rot / 2;
  float* xp = x.data<float>();
  const float* cp = t.cos.data<float>();
  const float* sp = t.sin.data<float>();
#pragma omp parallel for schedule(static) if (T * H * D >= 16384)
  for (int64_t th = 0; th < T * H; ++th) {
    const float* c = cp + (th / H) * rot;
    const float* s = sp + (th / H) * rot;
    float* v = xp + th * D;
#pragma omp simd
    for (int64_t d = 0; d < half; ++d) {
      const float a = v[d], b = v[d + half];
      v[d] = (a * c[d]) + (-b * s[d]);
      v[d + half] = (b * c[d + half]) + (a * s[d + half]);
    }
  }
}

}  // namespace slm
