// HF checkpoint -> tensor-cache shards (see export_weights.h).
#include "codegen/export_weights.h"

#include <chrono>
#include <set>

#include "models/model.h"
#include "models/safetensors.h"
#include "tensor/error.h"

namespace slm::codegen {
namespace {

DType model_dtype(quant::Scheme s) { return quant::scheme_info(s).model_dtype; }

// x + 1 rounded to x's own dtype, as numpy / ml_dtypes evaluate `x + 1` before `.astype(dtype)`.
Tensor add_one(const Tensor& x) {
  Tensor c = x.contiguous();
  Tensor out = Tensor::empty(c.shape(), c.dtype());
  const int64_t n = c.numel();
  switch (c.dtype()) {
    case DType::F32:
      for (int64_t i = 0; i < n; ++i) out.data<float>()[i] = c.data<float>()[i] + 1.0f;
      break;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) out.data<uint16_t>()[i] = f32_to_bf16(bf16_to_f32(c.data<uint16_t>()[i]) + 1.0f);
      break;
    case DType::F16:  // the f32 sum of two f16 values is exact, so one rounding equals f16 arithmetic
      for (int64_t i = 0; i < n; ++i) out.data<uint16_t>()[i] = f32_to_f16(f16_to_f32(c.data<uint16_t>()[i]) + 1.0f);
      break;
    case DType::I32:
      throw Error("[export] add_one on an integer tensor");
  }
  return out;
}

bool benign_extra(const std::string& name, const ModelConfig& c) {
  return name.find("rotary_emb.inv_freq") != std::string::npos || (name == "lm_head.weight" && c.tie_word_embeddings);
}

// Every HF tensor the layout needs is present with the table's shape and a float dtype, and nothing else is.
void check_checkpoint(const Checkpoint& ck, const MlcLayout& layout, const ModelConfig& config) {
  std::set<std::string> used;
  for (const auto& s : layout.sources)
    for (size_t i = 0; i < s.hf_names.size(); ++i) {
      const std::string& name = s.hf_names[i];
      used.insert(name);
      if (!ck.has(name))
        throw Error("[export] " + ck.dir() + ": tensor '" + name + "' is missing from the checkpoint (" +
                    config.model_type + " with this config.json needs it) — config and weights do not match");
      Shape want = s.shape;
      want[0] = s.hf_rows[i];
      const SafetensorsEntry& e = ck.entry(name);
      if (e.shape != want)
        throw Error("[export] " + ck.dir() + ": tensor '" + name + "' has shape " + shape_str(e.shape) +
                    " but config.json implies " + shape_str(want));
      if (!e.supported || e.dtype == DType::I32)
        throw Error("[export] " + ck.dir() + ": tensor '" + name + "' has dtype " + e.dtype_name +
                    "; export needs F32, F16 or BF16 weights");
    }
  for (const auto& name : ck.names())
    if (!used.count(name) && !benign_extra(name, config))
      throw Error("[export] " + ck.dir() + ": the checkpoint has tensor '" + name + "' that " + config.model_type +
                  " with this config.json does not use — exporting would drop it");
}

// The source as parts stacked along dim 0, in the HF dtype: a fused source's HF tensors as they are (borrowed
// from the mapping: quantisation and casts are row-wise, so the fused parameter is its parts' results
// stacked, and the writer writes them back to back without a concatenated copy); else the one tensor.
std::vector<Tensor> source_parts(const MlcSource& s, const std::function<Tensor(const std::string&)>& hf) {
  if (s.transform != MlcTransform::Concat) return {build_source(s, hf)};
  std::vector<Tensor> parts;
  for (const auto& name : s.hf_names) parts.push_back(hf(name).contiguous());
  return parts;
}

// Quantises (on this thread: the writer's thread has the other core) or casts one source and queues its
// parameters. The parts' results are stacked by the writer.
void write_source(TensorCacheWriter& w, const MlcLayout& layout, size_t src, const std::vector<Tensor>& parts,
                  const ExportOptions& opt, ExportStats& st) {
  auto emit = [&](const MlcParam& p, const std::vector<Tensor>& ts) {
    w.add(p.name, ts, p.shape, p.dtype);
    st.param_count += 1;
    for (const Tensor& t : ts) st.param_bytes += t.nbytes();
    if (opt.progress) opt.progress(w.bytes_added(), 0, p.name);
  };
  std::vector<const MlcParam*> params;
  for (const auto& p : layout.params)
    if (p.source == src) params.push_back(&p);
  const MlcSource& s = layout.sources[src];
  if (params.size() == 2) {  // q4: .q_weight, .q_scale
    quant::QuantizeOptions qo = opt.quantize;
    qo.threads = 1;
    std::vector<Tensor> qw, qs;
    for (size_t i = 0; i < parts.size(); ++i) {
      try {
        quant::QuantizedWeight q = quant::quantize(parts[i], layout.scheme, qo);
        qw.push_back(q.q_weight);
        qs.push_back(q.q_scale);
      } catch (const Error& e) {
        throw Error("[export] " + (i < s.hf_names.size() ? s.hf_names[i] : s.mlc_name) + ": " + e.what());
      }
    }
    emit(*params[0], qw);
    emit(*params[1], qs);
  } else {
    const DType dt = model_dtype(layout.scheme);
    std::vector<Tensor> cast;
    for (const Tensor& t : parts) cast.push_back(t.dtype() == dt ? t.contiguous() : t.to(dt));
    emit(*params[0], cast);
  }
}

}  // namespace

CacheEncoding export_encoding(quant::Scheme scheme) {
  return model_dtype(scheme) == DType::F16 ? CacheEncoding::F32ToBF16 : CacheEncoding::Raw;
}

uint64_t planned_bytes(const MlcLayout& layout, CacheEncoding enc) {
  uint64_t n = 0;
  for (const auto& p : layout.params) n += record_nbytes(p.dtype, encoding_name(enc), shape_numel(p.shape));
  return n;
}

Tensor build_source(const MlcSource& s, const std::function<Tensor(const std::string&)>& hf_tensor) {
  switch (s.transform) {
    case MlcTransform::Copy:
      return hf_tensor(s.hf_names[0]);
    case MlcTransform::AddOne:
      return add_one(hf_tensor(s.hf_names[0]));
    case MlcTransform::Concat: {
      Tensor first = hf_tensor(s.hf_names[0]);
      Tensor out = Tensor::empty(s.shape, first.dtype());
      int64_t row = 0;
      for (size_t i = 0; i < s.hf_names.size(); ++i) {
        Tensor part = i == 0 ? first : hf_tensor(s.hf_names[i]);
        out.narrow(0, row, s.hf_rows[i]).copy_from(part);
        row += s.hf_rows[i];
      }
      return out;
    }
  }
  return Tensor();
}

ExportStats export_weights(const std::string& hf_dir, const ModelConfig& config, const std::string& out_dir,
                           const ExportOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  const MlcLayout layout = mlc_layout(config, opt.scheme);
  Checkpoint ck = Checkpoint::open(hf_dir);
  check_checkpoint(ck, layout, config);
  const CacheEncoding enc = export_encoding(opt.scheme);
  const uint64_t total = planned_bytes(layout, enc);
  ExportStats st;
  for (const auto& name : ck.names())
    if (name.find("rotary_emb.inv_freq") == std::string::npos) st.source_params += shape_numel(ck.entry(name).shape);

  ExportOptions o = opt;
  if (opt.progress) o.progress = [&](uint64_t done, uint64_t, const std::string& n) { opt.progress(done, total, n); };
  TensorCacheWriter w(out_dir, enc);
  auto hf = [&](const std::string& name) {
    Tensor t = ck.get(name);
    st.bytes_read += t.nbytes();
    return t;
  };
  for (size_t src : mlc_loading_order(layout, hf_file_order(hf_dir)))
    write_source(w, layout, src, source_parts(layout.sources[src], hf), o, st);

  nlohmann::ordered_json meta;
  meta["ParamSize"] = st.param_count;
  meta["ParamBytes"] = double(st.param_bytes);
  meta["BitsPerParam"] = st.source_params ? double(st.param_bytes) * 8.0 / double(st.source_params) : 0.0;
  const auto& shards = w.finish(meta);
  st.shards = int(shards.size());
  for (const auto& s : shards) st.bytes_written += s.nbytes;
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

}  // namespace slm::codegen
