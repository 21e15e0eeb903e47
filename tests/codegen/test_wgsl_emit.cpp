// WGSL emitter: snapshot tests of the kernels emitted for fixed tiny models (tests/fixtures/wgsl/, rewritten
// with SLM_UPDATE_SNAPSHOTS=1 — a diff must be intended), the template engine's rules and errors, the
// manifest's agreement with the WGSL, and the device limits being honoured. The kernels' numerics are
// checked by executing them (tests/web/test_wgsl_kernels.mjs, Dawn on lavapipe) against JS references.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <regex>
#include <set>

#include "codegen/mlc_layout.h"
#include "codegen/wgsl_emit.h"
#include "codegen_test_util.h"
#include "tensor/error.h"

namespace slm::codegen {
namespace {

using json = nlohmann::ordered_json;
using testing_codegen::fixture_config;
using testing_codegen::read_text;
using testing_codegen::write_text;
namespace fs = std::filesystem;

std::string snapshot_dir(const std::string& name) { return std::string(SLM_FIXTURES) + "/wgsl/" + name; }
bool updating() {
  const char* e = std::getenv("SLM_UPDATE_SNAPSHOTS");
  return e && std::string(e) == "1";
}

// Compares (or with SLM_UPDATE_SNAPSHOTS=1 rewrites) a snapshot directory holding exactly these files.
void check_snapshot(const std::string& name, const std::map<std::string, std::string>& files) {
  const std::string dir = snapshot_dir(name);
  if (updating()) {
    fs::remove_all(dir);
    fs::create_directories(dir);
    for (auto& [f, text] : files) write_text(dir + "/" + f, text);
    return;
  }
  ASSERT_TRUE(fs::is_directory(dir)) << dir << " missing: run with SLM_UPDATE_SNAPSHOTS=1";
  std::set<std::string> on_disk;
  for (auto& e : fs::directory_iterator(dir)) on_disk.insert(e.path().filename().string());
  for (auto& [f, text] : files) {
    EXPECT_TRUE(on_disk.count(f)) << name << "/" << f << " is emitted but not in the snapshot";
    if (!on_disk.count(f)) continue;
    EXPECT_EQ(read_text(dir + "/" + f), text) << name << "/" << f
                                              << " differs from the snapshot (SLM_UPDATE_SNAPSHOTS=1 if intended)";
    on_disk.erase(f);
  }
  for (const std::string& f : on_disk) ADD_FAILURE() << name << "/" << f << " is in the snapshot but no longer emitted";
}

std::map<std::string, std::string> files_of(const WgslKernelSet& set) {
  std::map<std::string, std::string> files;
  for (const WgslKernel& k : set.kernels) files[k.name + ".wgsl"] = k.wgsl;
  files["kernels.json"] = set.manifest.dump(2) + "\n";
  return files;
}

struct Case {
  const char* model;
  quant::Scheme scheme;
  const char* dir;
};
const Case kCases[] = {{"qwen2", quant::Scheme::Q4F32_1, "qwen2_q4f32_1"},
                       {"qwen2", quant::Scheme::Q4F16_1, "qwen2_q4f16_1"},
                       {"gemma2", quant::Scheme::Q4F32_1, "gemma2_q4f32_1"},
                       {"gemma3_text", quant::Scheme::Q4F32_1, "gemma3_text_q4f32_1"},
                       {"phi3_longrope", quant::Scheme::Q4F32_1, "phi3_longrope_q4f32_1"}};

TEST(WgslSnapshot, EmittedKernelsMatchTheCommittedSnapshots) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.dir);
    check_snapshot(c.dir, files_of(emit_wgsl_kernels(fixture_config(c.model), c.scheme)));
  }
}

// Words a GEMV lane takes per run (the planner's U), for the edited tilings below.
void set_unroll(WgslKernelSpec& k, int u) {
  k.values["U"] = u;
  k.values["U2"] = u >= 2;
  k.values["U3"] = u >= 3;
  k.values["U4"] = u >= 4;
}

// Template variants the fixture models do not reach (unquantised and f16 embeddings, Gemma's 1 + w norm,
// GELU-erf, f16 bias + accumulate, chunked/looping GEMVs), emitted from edited specs so the node test executes them too.
TEST(WgslSnapshot, ExtraVariantsMatchTheCommittedSnapshots) {
  const WgslLimits lim;
  std::vector<WgslKernel> ks;
  for (quant::Scheme s : {quant::Scheme::Q4F32_1, quant::Scheme::Q4F16_1}) {
    const bool f16 = s == quant::Scheme::Q4F16_1;
    const std::string sfx = f16 ? "_f16" : "_f32";
    WgslPlan plan = plan_wgsl_kernels(fixture_config("qwen2"), s);
    auto find = [&](const std::string& n) {
      for (const WgslKernelSpec& k : plan.kernels)
        if (k.name == n) return k;
      throw Error("no kernel " + n);
    };
    WgslKernelSpec e = find("embed");
    e.name = "embed_dense" + sfx;
    e.tmpl = "embed_dense";
    e.values["KERNEL"] = e.name;
    e.values["EMBED_SCALE"] = true;
    e.values["EMBED_SCALE_DOC"] = " · sqrt(C)";
    e.params.clear();
    ks.push_back(wgsl_emit_kernel(e, lim));
    WgslKernelSpec n = find("rmsnorm");
    n.name = "rmsnorm_unit_offset" + sfx;
    n.values["KERNEL"] = n.name;
    n.values["UNIT_OFFSET"] = true;
    ks.push_back(wgsl_emit_kernel(n, lim));
    WgslKernelSpec g = find("gemv_gate_up");
    g.name = "gemv_gate_up_gelu_erf_unit" + sfx;
    g.values["KERNEL"] = g.name;
    g.values["ACT_SILU"] = false;
    g.values["ACT_GELU_ERF"] = true;
    g.values["UNIT_OFFSET"] = true;
    ks.push_back(wgsl_emit_kernel(g, lim));
    WgslKernelSpec b = find("gemv_o");
    b.name = "gemv_bias_accumulate" + sfx;
    b.values["KERNEL"] = b.name;
    b.values["BIAS"] = true;
    set_unroll(b, 2);  // 8 words, 32 lanes: every lane's second slot is past the row's end
    ks.push_back(wgsl_emit_kernel(b, lim));
    // Tilings the planner does not pick for the fixture shapes: fewer lanes than groups (each lane loops over
    // several groups) with more rows per workgroup than lanes, and a last block that runs past N.
    WgslKernelSpec c = find("gemv_gate_up");
    c.name = "gemv_gate_up_looped" + sfx;
    c.values["KERNEL"] = c.name;
    c.values["TPR"] = 1;
    c.values["WG"] = c.workgroup_size = 8;  // 32 rows a workgroup
    c.values["RED_SIZE"] = 9 * 8;
    c.values["NUM_WG"] = (c.values["N"].get<int64_t>() + 31) / 32;
    set_unroll(c, 3);  // runs at words 0, 3, 6 of 8: the last run's third slot is past the row's end
    ks.push_back(wgsl_emit_kernel(c, lim));
    WgslKernelSpec d = find("gemv_down");
    d.name = "gemv_down_partial" + sfx;
    d.values["KERNEL"] = d.name;
    d.values["TPR"] = 4;
    d.values["WG"] = d.workgroup_size = 4 * 6;  // 24 rows a workgroup: N = 64 leaves a partial block
    d.values["RED_SIZE"] = 4 * 24;
    d.values["NUM_WG"] = (d.values["N"].get<int64_t>() + 23) / 24;
    set_unroll(d, 4);
    ks.push_back(wgsl_emit_kernel(d, lim));
    // The staged GEMV (gemv_q4_staged.wgsl), which the planner gives only larger shapes by default: every option
    // of the fixture's GEMVs (norm folded in, bias, gate|up, residual accumulate) plus a soft-capped head, and its
    // reduction without subgroupAdd (SG_MAX = 1: no adapter's subgroups qualify, as where they are wider than a
    // row set or not contiguous runs of lanes) at K = 1024, where every lane of a row set holds a sum.
    if (!f16) {
      WgslOptions always;
      always.gemv_staged = WgslOptions::Staged::Always;
      const WgslPlan sp = plan_wgsl_kernels(fixture_config("qwen2"), s, always);
      auto staged = [&](const std::string& n) {
        for (const WgslKernelSpec& k : sp.kernels)
          if (k.name == n && k.tmpl == "gemv_q4_staged") return k;
        throw Error("no staged kernel " + n);
      };
      for (const char* g : {"gemv_qkv", "gemv_o", "gemv_gate_up", "gemv_down", "gemv_lm_head"}) {
        WgslKernelSpec st = staged(std::string(g) + "_sg");
        st.name = std::string(g) + "_staged";
        st.values["KERNEL"] = st.name;
        if (st.name == "gemv_lm_head_staged") st.values["SOFTCAP"] = true, st.values["CAP"] = 3.0f;
        ks.push_back(wgsl_emit_kernel(st, lim));
      }
      WgslKernelSpec fb = staged("gemv_gate_up_sg");
      fb.name = "gemv_gate_up_staged_fallback";
      fb.values["KERNEL"] = fb.name;
      fb.values["SG_MAX"] = 1;
      fb.values["K"] = 1024;
      fb.values["GROUPS"] = 32;
      fb.values["XS_SIZE"] = std::max<int64_t>(1024 / 4, (fb.values["SLOTS"].get<int64_t>() * fb.workgroup_size + 3) / 4);
      ks.push_back(wgsl_emit_kernel(fb, lim));
    }
    // cos/sin in the shader (WgslRope::Inline) instead of the runtime's table.
    WgslKernelSpec ri = find("rope_kv_full");
    ri.name = "rope_kv_inline" + sfx;
    ri.values["KERNEL"] = ri.name;
    ri.values["ROPE_INLINE"] = true;
    ri.values["ROPE_DOC"] = "computed in the shader from the baked inv_freq (default)";
    ks.push_back(wgsl_emit_kernel(ri, lim));
    // The sampling stages over many blocks (the fixture's 320 logits fit one): V = 5000 in 79 blocks of 64,
    // the last one partial, with 64 threads — four histogram bins each and two blocks per thread in the pick,
    // as a 262k vocabulary (Gemma 3) gives 257 blocks of 1024 to 256 threads. The node test runs the stages in
    // order (tests/web/wgsl_refs.mjs).
    for (const char* stage : {"sample_prep", "sample_topk_hist", "sample_topk_select", "sample_exp", "sample_topp_hist",
                              "sample_topp_select", "sample_sums", "sample_pick"}) {
      if (f16) break;
      WgslKernelSpec sm = find(stage);
      const int64_t st = sm.values["STAGE"].get<int64_t>();
      const bool per_block = st == 0 || st == 1 || st == 3 || st == 4 || st == 6;  // the select / pick stages: 1
      sm.name = std::string(stage) + "_multiblock";
      sm.values["KERNEL"] = sm.name;
      sm.values["V"] = 5000;
      sm.values["WG"] = sm.workgroup_size = 64;
      sm.values["PER"] = 1;
      sm.values["BLK"] = 64;
      sm.values["NB"] = 79;
      sm.values["GRID"] = per_block ? 79 : 1;
      ks.push_back(wgsl_emit_kernel(sm, lim));
    }
    WgslKernelSpec a = find("gated_act");
    a.name = "gated_act_gelu_tanh" + sfx;
    a.values["KERNEL"] = a.name;
    a.values["ACT_SILU"] = false;
    a.values["ACT_GELU_TANH"] = true;
    if (!f16) ks.push_back(wgsl_emit_kernel(a, lim));
    WgslKernelSpec gm = find("gemm_qkv");
    gm.name = "gemm_accumulate" + sfx;
    gm.values["KERNEL"] = gm.name;
    gm.values["ACCUMULATE"] = true;
    ks.push_back(wgsl_emit_kernel(gm, lim));
  }
  std::map<std::string, std::string> files;
  json kernels = json::array();
  for (const WgslKernel& k : ks) {
    files[k.name + ".wgsl"] = k.wgsl;
    kernels.push_back(k.info);
  }
  files["kernels.json"] = json{{"format", "slm-wgsl/1"}, {"constants", plan_wgsl_kernels(fixture_config("qwen2"), quant::Scheme::Q4F32_1).constants},
                               {"kernels", kernels}}.dump(2) + "\n";
  check_snapshot("variants", files);
}

// ---- the template engine ------------------------------------------------------------------------

TEST(WgslFill, ValuesSectionsAndStandaloneLines) {
  EXPECT_EQ(wgsl_fill("a {{X}} b", {{"X", 3}}, "t"), "a 3 b");
  EXPECT_EQ(wgsl_fill("x\n{{#F}}\nyes\n{{/F}}\n{{^F}}\nno\n{{/F}}\nz\n", {{"F", true}}, "t"), "x\nyes\nz\n");
  EXPECT_EQ(wgsl_fill("x\n{{#F}}\nyes\n{{/F}}\n{{^F}}\nno\n{{/F}}\nz\n", {{"F", false}}, "t"), "x\nno\nz\n");
  EXPECT_EQ(wgsl_fill("[{{#A}}a{{#B}}b{{/B}}{{/A}}]", {{"A", true}, {"B", false}}, "t"), "[a]");
  // A standalone value that is empty takes its line away; a non-empty one keeps its indentation.
  EXPECT_EQ(wgsl_fill("{{E}}\nx\n  {{E}}\n", {{"E", ""}}, "t"), "x\n");
  EXPECT_EQ(wgsl_fill("  {{E}}\nx\n", {{"E", "enable f16;"}}, "t"), "  enable f16;\nx\n");
  EXPECT_EQ(wgsl_fill("{{E}}", {{"E", "7"}}, "t"), "7");
  // Names inside skipped sections count as used and need no value.
  EXPECT_EQ(wgsl_fill("{{#F}}{{Y}}{{/F}}ok", {{"F", false}, {"Y", 1}}, "t"), "ok");
  EXPECT_EQ(wgsl_fill("{{#F}}{{MISSING}}{{/F}}ok", {{"F", false}}, "t"), "ok");
}

TEST(WgslFill, ErrorsNameThePlaceholder) {
  auto msg = [](auto f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(msg([] { wgsl_fill("a {{Y}}", json::object(), "t.wgsl"); }).find("{{Y}} has no value"), std::string::npos);
  EXPECT_NE(msg([] { wgsl_fill("{{#F}}x{{/F}}", {{"F", 1}}, "t.wgsl"); }).find("true/false"), std::string::npos);
  EXPECT_NE(msg([] { wgsl_fill("{{#F}}x", {{"F", true}}, "t.wgsl"); }).find("never closed"), std::string::npos);
  EXPECT_NE(msg([] { wgsl_fill("{{#F}}x{{/G}}", {{"F", true}}, "t.wgsl"); }).find("{{/G}} closes {{#F}}"), std::string::npos);
  EXPECT_NE(msg([] { wgsl_fill("x", {{"UNUSED", 1}}, "t.wgsl"); }).find("'UNUSED' is not used"), std::string::npos);
  EXPECT_EQ(wgsl_fill("x", {{"UNUSED", 1}}, "t.wgsl", {"UNUSED"}), "x");
  EXPECT_NE(msg([] { wgsl_fill("{{a-b}}", json::object(), "t.wgsl"); }).find("bad tag name"), std::string::npos);
  EXPECT_NE(msg([] { wgsl_fill("{{X", json::object(), "t.wgsl"); }).find("without '}}'"), std::string::npos);
  EXPECT_NE(msg([] { wgsl_fill("{{>nope}}", json::object(), "t.wgsl"); }).find("no template 'nope.wgsl'"), std::string::npos);
  EXPECT_NE(msg([] { wgsl_fill("\n{{#F}}", {{"F", true}}, "t.wgsl"); }).find("never closed"), std::string::npos);
}

TEST(WgslFill, LiteralsRoundTripAsF32) {
  EXPECT_EQ(wgsl_literal(json(1e-5f), "x"), "1e-05");
  EXPECT_EQ(wgsl_literal(json(1.0f), "x"), "1.0");
  EXPECT_EQ(wgsl_literal(json(-0.5), "x"), "-0.5");
  EXPECT_EQ(wgsl_literal(json(42), "x"), "42");
  EXPECT_EQ(wgsl_literal(json::array({1.0, 0.25}), "x"), "1.0, 0.25");
  EXPECT_THROW(wgsl_literal(json(1e300), "x"), Error);  // overflows f32
  const float v = 0.1f;
  EXPECT_EQ(std::stof(wgsl_literal(json(v), "x")), v);
}

TEST(WgslFill, PartialsAreFilledWithTheSameValues) {
  const std::string out = wgsl_fill("{{>act}}", {{"ACT_SILU", true}, {"ACT_GELU_TANH", false}, {"ACT_GELU_ERF", false}}, "t");
  EXPECT_NE(out.find("x / (1.0 + exp(-x))"), std::string::npos);
  EXPECT_EQ(out.find("erf_approx"), std::string::npos);
  EXPECT_EQ(out.find("{{"), std::string::npos);
}

TEST(WgslEval, ExpressionsOfTheManifest) {
  EXPECT_EQ(wgsl_eval("ceil(T*64/8/256)", {{"T", 100}}), 4);  // ceil(6400 / 2048)
  EXPECT_EQ(wgsl_eval("ceil(T/32)*3", {{"T", 33}}), 6);
  EXPECT_EQ(wgsl_eval("T*6", {{"T", 7}}), 42);
  EXPECT_EQ(wgsl_eval("2+3*4", {}), 14);
  EXPECT_EQ(wgsl_eval("(2+3)*4", {}), 20);
  EXPECT_EQ(wgsl_eval("320*64/8*4", {}), 10240);
  EXPECT_THROW(wgsl_eval("T*2", {}), Error);
  EXPECT_THROW(wgsl_eval("2+", {}), Error);
  EXPECT_THROW(wgsl_eval("ceil(4/0)", {}), Error);
}

// ---- the plan and the manifest --------------------------------------------------------------------

const WgslKernel& kernel(const WgslKernelSet& s, const std::string& name) {
  for (const WgslKernel& k : s.kernels)
    if (k.name == name) return k;
  throw Error("no kernel " + name);
}

TEST(WgslPlan, ManifestAgreesWithTheWgslAndTheExport) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.dir);
    const ModelConfig cfg = fixture_config(c.model);
    const WgslKernelSet set = emit_wgsl_kernels(cfg, c.scheme);
    const MlcLayout layout = mlc_layout(cfg, c.scheme);
    for (const WgslKernel& k : set.kernels) {
      SCOPED_TRACE(k.name);
      EXPECT_EQ(k.wgsl.find("{{"), std::string::npos);
      EXPECT_NE(k.wgsl.find("@workgroup_size(" + std::to_string(k.info["workgroup_size"][0].get<int>()) + ")"),
                std::string::npos);
      // f16 types only in q4f16_1 kernels, and then with `enable f16;` as the first line.
      const bool uses_f16 = k.wgsl.find("<f16>") != std::string::npos || k.wgsl.find("f16(") != std::string::npos;
      if (uses_f16) {
        EXPECT_EQ(k.wgsl.rfind("enable f16;\n", 0), 0u);
      }
      if (c.scheme == quant::Scheme::Q4F32_1) {
        EXPECT_FALSE(uses_f16);
      }
      for (const json& b : k.info["bindings"]) {
        const std::string decl = "@binding(" + std::to_string(b["binding"].get<int>()) + ") var<storage, " +
                                 b["access"].get<std::string>() + "> " + b["name"].get<std::string>() + ": ";
        EXPECT_NE(k.wgsl.find(decl), std::string::npos) << decl;
        if (b.contains("param")) {  // every weight binding names a record the export writes
          std::string p = b["param"].get<std::string>();
          if (size_t at = p.find("{L}"); at != std::string::npos) p.replace(at, 3, "0");
          const MlcParam* mp = layout.find(p);
          ASSERT_NE(mp, nullptr) << p;
          EXPECT_EQ(b["type"].get<std::string>().find("u32") != std::string::npos, mp->dtype == "uint32") << p;
        }
      }
      if (!k.info["uniform"].is_null()) {
        EXPECT_NE(k.wgsl.find("@binding(" + std::to_string(k.info["uniform"]["binding"].get<int>()) + ") var<uniform> p"),
                  std::string::npos);
      }
      EXPECT_NO_THROW(wgsl_eval(k.info["grid"].is_string() ? k.info["grid"].get<std::string>()
                                                            : std::to_string(k.info["grid"].get<int64_t>()),
                                {{"T", 5}, {"S", 64}, {"P", 64}, {"M", 8}}));
    }
    EXPECT_EQ(set.manifest["layers"].size(), size_t(cfg.num_hidden_layers));
  }
}

TEST(WgslPlan, FamiliesGetTheirKernels) {
  const WgslKernelSet q = emit_wgsl_kernels(fixture_config("qwen2"), quant::Scheme::Q4F32_1);
  const json& qkv = kernel(q, "gemv_qkv").info["values"];
  EXPECT_TRUE(qkv["NORM_IN"].get<bool>());
  EXPECT_TRUE(qkv["BIAS"].get<bool>());
  EXPECT_EQ(qkv["N"].get<int>(), (4 + 2 * 2) * 16);
  EXPECT_TRUE(kernel(q, "gemv_o").info["values"]["ACCUMULATE"].get<bool>());
  EXPECT_FALSE(kernel(q, "rope_kv_full").info["values"]["ROPE_INLINE"].get<bool>());  // table by default (exact cos/sin)
  // Inline inv_freq = theta^(-2i/D) as rope_freqs computes it.
  const RopeFreqs fr = rope_freqs(fixture_config("qwen2").rope_full, 1);
  const json& inv = kernel(q, "rope_kv_full").info["values"]["INV_FREQ"];
  ASSERT_EQ(inv.size(), fr.inv_freq.size());
  for (size_t i = 0; i < inv.size(); ++i) EXPECT_EQ(float(inv[i].get<double>()), fr.inv_freq[i]);

  const WgslKernelSet g2 = emit_wgsl_kernels(fixture_config("gemma2"), quant::Scheme::Q4F32_1);
  EXPECT_FALSE(kernel(g2, "gemv_o").info["values"]["ACCUMULATE"].get<bool>());  // sandwich norm follows
  EXPECT_TRUE(kernel(g2, "rmsnorm_add").info["values"]["ACCUMULATE"].get<bool>());
  EXPECT_EQ(kernel(g2, "attention_sliding").info["values"]["WINDOW"].get<int>(), 8);
  EXPECT_TRUE(kernel(g2, "attention_sliding").info["values"]["SOFTCAP"].get<bool>());
  EXPECT_FLOAT_EQ(kernel(g2, "attention_full").info["values"]["SCALE"].get<float>(), float(std::pow(24.0, -0.5)));
  EXPECT_TRUE(kernel(g2, "gemv_lm_head").info["values"]["SOFTCAP"].get<bool>());
  EXPECT_TRUE(kernel(g2, "embed").info["values"]["EMBED_SCALE"].get<bool>());
  EXPECT_TRUE(kernel(g2, "gemv_gate_up").info["values"]["ACT_GELU_TANH"].get<bool>());

  const ModelConfig g3c = fixture_config("gemma3_text");
  const WgslKernelSet g3 = emit_wgsl_kernels(g3c, quant::Scheme::Q4F32_1);
  EXPECT_EQ(kernel(g3, "gemv_k").info["values"]["OUT_OFFSET"].get<int64_t>(), g3c.num_attention_heads * g3c.head_dim);
  EXPECT_EQ(kernel(g3, "gemv_v").info["values"]["OUT_OFFSET"].get<int64_t>(),
            (g3c.num_attention_heads + g3c.num_key_value_heads) * g3c.head_dim);
  EXPECT_TRUE(kernel(g3, "rope_kv_full").info["values"]["QK_NORM"].get<bool>());
  for (const char* r : {"rope_kv_full", "rope_kv_sliding"}) EXPECT_FALSE(kernel(g3, r).info["values"]["ROPE_INLINE"].get<bool>());
  const ModelConfig phi = fixture_config("phi3_longrope");
  const WgslKernelSet p3 = emit_wgsl_kernels(phi, quant::Scheme::Q4F32_1);
  EXPECT_EQ(kernel(p3, "rope_kv_full").info["values"]["ROT"].get<int64_t>(), rope_rotary_dim(phi.rope_full));
  EXPECT_LT(rope_rotary_dim(phi.rope_full), phi.head_dim);
  WgslOptions inl;
  inl.rope = WgslRope::Inline;
  EXPECT_THROW(emit_wgsl_kernels(phi, quant::Scheme::Q4F32_1, inl), Error);  // longrope depends on seq_len
}

TEST(WgslPlan, UnsupportedInputsAreRefusedWithTheRemedy) {
  try {
    emit_wgsl_kernels(fixture_config("qwen2"), quant::Scheme::Q0F32);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--quant q4f32_1"), std::string::npos);
  }
  ModelConfig c = fixture_config("qwen2");
  c.hidden_size = 72;  // not whole groups of 32
  EXPECT_THROW(emit_wgsl_kernels(c, quant::Scheme::Q4F32_1), Error);
}

TEST(WgslLimits, SmallLimitsAreHonouredAndLargeOnesUsed) {
  WgslOptions small;
  small.limits.max_compute_invocations_per_workgroup = 64;
  small.limits.max_compute_workgroup_size_x = 64;
  small.limits.max_compute_workgroup_storage_size = 4096;
  for (const Case& c : kCases) {
    const WgslKernelSet s = emit_wgsl_kernels(fixture_config(c.model), c.scheme, small);
    for (const WgslKernel& k : s.kernels) {
      EXPECT_LE(k.info["workgroup_size"][0].get<int>(), 64) << k.name;
      EXPECT_LE(k.info["bindings"].size(), 8u) << k.name;
      if (k.info["template"] == "gemm_q4.wgsl") {
        const json& v = k.info["values"];
        EXPECT_LE((v["TM"].get<int>() * 32 + v["TN"].get<int>() * 33) * 4, 4096) << k.name;
      }
      if (k.info["template"] == "gemv_q4.wgsl") {
        const json& v = k.info["values"];
        EXPECT_LE(v["RED_SIZE"].get<int>() * 4, 4096) << k.name;
        EXPECT_EQ(v["RED_SIZE"].get<int>(), v["SLOTS"].get<int>() * v["WG"].get<int>()) << k.name;
      }
    }
  }
  WgslLimits big;
  big.max_compute_invocations_per_workgroup = 1024;
  big.max_compute_workgroup_size_x = 1024;
  big.max_compute_workgroup_storage_size = 32768;
  EXPECT_EQ(wgsl_gemm_tiling(896, 4864, big)["TM"].get<int>(), 64);
  EXPECT_EQ(wgsl_gemm_tiling(896, 4864, WgslLimits{})["TM"].get<int>(), 32);  // 64x64 needs 16640 B > 16384
  EXPECT_EQ(wgsl_workgroup_size(256, WgslLimits{}), 256u);
  WgslLimits odd;
  odd.max_compute_invocations_per_workgroup = 200;
  EXPECT_EQ(wgsl_workgroup_size(256, odd), 128u);  // reductions need a power of two

  WgslOptions few;
  few.limits.max_storage_buffers_per_shader_stage = 4;
  try {
    emit_wgsl_kernels(fixture_config("qwen2"), quant::Scheme::Q4F32_1, few);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("maxStorageBuffersPerShaderStage"), std::string::npos);
  }
  WgslOptions tiny;
  tiny.limits.max_storage_buffer_binding_size = 1000;
  try {
    emit_wgsl_kernels(fixture_config("qwen2"), quant::Scheme::Q4F32_1, tiny);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("maxStorageBufferBindingSize"), std::string::npos);
  }
}

// The decode GEMV's lanes per row (TPR) and words a lane takes per run (U): every one of a row's K/8 words is
// covered by the runs, in as few runs as four words a lane would take, with fewer than TPR slots left over (a
// slot past the row's end still decodes a word); --gemv-lanes overrides the lanes.
TEST(WgslPlan, GemvRunsCoverEachRowWithoutWholeEmptySlots) {
  const WgslLimits lim;
  for (int64_t K : {64, 128, 896, 1536, 2048, 3072, 3584, 4864, 8192, 8960, 18944}) {
    const json t = wgsl_gemv_tiling(K, 4096, false, true, lim, 0);
    const int64_t words = K / 8, tpr = t["TPR"].get<int64_t>(), u = t["U"].get<int64_t>();
    const int64_t runs = (words + u * tpr - 1) / (u * tpr);
    EXPECT_GE(u, 1) << K;
    EXPECT_LE(u, 4) << K;
    EXPECT_EQ(runs, (words + 4 * tpr - 1) / (4 * tpr)) << K << ": more runs than four words a lane would take";
    EXPECT_LT(runs * u * tpr - words, runs * tpr) << K << ": a whole slot of every lane is past the row's end";
    EXPECT_EQ(t["U2"].get<bool>(), u >= 2) << K;
    EXPECT_EQ(t["U3"].get<bool>(), u >= 3) << K;
    EXPECT_EQ(t["U4"].get<bool>(), u >= 4) << K;
  }
  // Phi-3.5-mini's K = 3072: 384 words over 128 lanes, three a lane (four wasted a quarter of the decoding).
  EXPECT_EQ(wgsl_gemv_tiling(3072, 9216, false, true, lim, 0)["U"].get<int>(), 3);
  const json forced = wgsl_gemv_tiling(3072, 9216, false, true, lim, 32);
  EXPECT_EQ(forced["TPR"].get<int>(), 32);
  EXPECT_EQ(forced["U"].get<int>(), 4);  // 384 words: 3 runs of 4 x 32
}

// Which GEMVs get the staged subgroups stand-in by default (the shapes where it measured faster on an H200), on
// the benches' real configs: Phi-3.5-mini's qkv, gate_up and lm_head (96 groups a row, >= 4096 rows), not its
// o_proj (3072 rows) or down (K = 8192: x does not fit 16 KB); of Qwen2.5-0.5B only the 151 936-row head.
TEST(WgslPlan, StagedGemvGoesWhereItMeasuredFaster) {
  auto staged_sg = [](const std::string& model, WgslOptions::Staged mode) {
    WgslOptions o;
    o.gemv_staged = mode;
    const WgslPlan p = plan_wgsl_kernels(load_config(std::string(SLM_FIXTURES) + "/../../benches/web/configs/" + model),
                                         quant::Scheme::Q4F32_1, o);
    std::set<std::string> names;
    for (const WgslKernelSpec& k : p.kernels)
      if (k.tmpl == "gemv_q4_staged") names.insert(k.name);
    return names;
  };
  using S = WgslOptions::Staged;
  EXPECT_EQ(staged_sg("phi-3.5-mini", S::Auto),
            (std::set<std::string>{"gemv_qkv_sg", "gemv_gate_up_sg", "gemv_lm_head_sg"}));
  EXPECT_EQ(staged_sg("qwen2.5-0.5b", S::Auto), (std::set<std::string>{"gemv_lm_head_sg"}));
  EXPECT_EQ(staged_sg("phi-3.5-mini", S::Always),
            (std::set<std::string>{"gemv_qkv_sg", "gemv_o_sg", "gemv_gate_up_sg", "gemv_lm_head_sg"}));
  EXPECT_TRUE(staged_sg("phi-3.5-mini", S::Never).empty());
}

TEST(WgslWrite, KernelsFolderIsReplacedWhole) {
  const std::string dir = testing_codegen::fresh_dir("wgsl_write");
  const ModelConfig cfg = fixture_config("qwen2");
  fs::create_directories(dir + "/kernels");
  write_text(dir + "/kernels/stale.wgsl", "old");
  write_wgsl_kernels(dir, cfg, quant::Scheme::Q4F32_1);
  const WgslKernelSet set = emit_wgsl_kernels(cfg, quant::Scheme::Q4F32_1);
  std::set<std::string> names;
  for (auto& e : fs::directory_iterator(dir + "/kernels")) names.insert(e.path().filename().string());
  EXPECT_EQ(names.size(), set.kernels.size() + 1);
  EXPECT_FALSE(names.count("stale.wgsl"));
  EXPECT_EQ(read_text(dir + "/kernels/kernels.json"), set.manifest.dump(2) + "\n");
  for (auto& e : fs::directory_iterator(dir)) EXPECT_EQ(e.path().filename().string().find("kernels.tmp"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace slm::codegen
