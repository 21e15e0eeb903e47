// The model forward on WebGPU — NOT BUILT YET. This file is the contract between the engine
// (web/runtime/engine.mjs) and the module that runs the generated WGSL kernels (codegen/wgsl*, web/kernels/);
// the kernel owner replaces this file with the implementation. Until then the engine reports
// "model library not built yet" instead of answering: nothing here may fake output.
//
// export const implemented = true;          // the engine refuses a module that exports implemented = false
// export async function createModel(ctx) → Model
//
// ctx (what the engine hands over; everything already downloaded, verified and cached):
//   device        GPUDevice, created by the engine with the adapter's largest buffer limits and with
//                 'shader-f16' enabled exactly when ctx.shaderF16
//   shaderF16     bool: the build is q4f16_1/q0f16 and the feature is on
//   adapterInfo   {description, fallback, limits}
//   config        mlc-chat-config.json, parsed: model_type, quantization, model_config {hidden_size,
//                 num_hidden_layers, num_attention_heads, num_key_value_heads, head_dim, vocab_size,
//                 rms_norm_eps, rope_theta, …}, context_window_size, prefill_chunk_size
//   tensors       Map<name, {name, shape, dtype, format, nbytes, shard, data, bytes}> — every record of
//                 tensor-cache.json under its MLC name (docs/mlc_params.md §3): `data` is the decoded typed
//                 array (float32 → Float32Array, widened from bf16 when stored so; float16/bfloat16 →
//                 Uint16Array bits; uint32 q_weight → Uint32Array), `bytes` the stored bytes (Uint8Array)
//   files         {text(name), bytes(name)}: other files of the export folder (e.g. kernels.json), through the
//                 same network-first cache as the weights, so they work offline after the first load
//   baseUrl       the export folder's absolute URL (ends with '/')
//   onProgress    ({phase: 'compile', done, total}) while pipelines are created
//
// Model (the object createModel resolves to):
//   vocabSize       number: length of the logits (may exceed the tokenizer's vocabulary)
//   contextWindow   number: KV-cache positions; the engine never asks for more
//   prefill(ids: Int32Array, sampling) → Promise<Step>   appends ids at the end of the KV cache and returns the
//                   next token after the last of them (the engine chunks nothing: split by prefill_chunk_size
//                   inside if needed)
//   decode(id: number, sampling) → Promise<Step>         appends one id, returns the next token
//   resetKV()       empties the KV cache (a new conversation)
//   truncateKV(n)   optional: keeps the first n positions (lets the engine reuse a shared prompt prefix when a
//                   conversation is edited; without it the engine resets and prefills everything)
//   dispose()       frees GPU buffers
// Step: either {token: number} — sampled on the GPU (one small read-back per token; the goal) — or
//   {logits: Float32Array} of length vocabSize — the engine then samples on the CPU (runtime/sampler.mjs).
// sampling: {temperature, top_p, top_k, repetition_penalty, seed, context: Int32Array (every id in the KV
//   cache plus the new ones, for the repetition penalty)}; temperature 0 means greedy (argmax), as natively.
// Errors: throw an Error whose message names the kernel or buffer and the remedy; the engine forwards it.

export const implemented = false;

export async function createModel() {
  throw new Error('[model_gpu] model library not built yet: web/runtime/model_gpu.mjs is the placeholder');
}
