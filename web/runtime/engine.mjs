// The chat engine, living in a Web Worker (web/worker.mjs) so the page never waits on it: picks the
// export's build for this GPU, loads the artifacts (runtime/loader.mjs), the tokenizer and chat template
// (text/slm_text.mjs, our C++ compiled to wasm), the model module (runtime/model_gpu.mjs, contract there),
// and runs the OpenAI-style chat loop WebLLM users know:
//   engine.chat.completions.create({messages, stream, temperature, top_p, max_tokens, stop, seed})
//   engine.interruptGenerate(), engine.resetChat(), engine.runtimeStatsText()
// Not here: kernels, the page, the worker messages (web/worker.mjs, runtime/worker_client.mjs).
// Prompt = the export's Jinja chat_template rendered with add_generation_prompt and encoded without
// special tokens — what `slm generate --chat` does (cli/generate.cpp), so the ids are the native ones.

import { SlmText } from '../text/slm_text.mjs';
import { chooseVariant, detectGpu, GpuError, noF16Message, quantNeedsF16, requestDevice } from './gpu.mjs';
import { loadArtifacts } from './loader.mjs';
import { chunk, completion, completionId, normalizeRequest, RequestError, StopFilter, usage } from './openai.mjs';
import { makeRng, sampleToken } from './sampler.mjs';

export class EngineError extends Error {
  // code: 'model-library-missing' | 'not-loaded' | 'context' | 'model' | 'aborted'
  constructor(message, code) {
    super(message);
    this.name = 'EngineError';
    this.code = code;
  }
}

export const MODEL_LIBRARY_MISSING =
  'The model library is not built yet: the weights and tokenizer loaded, but web/runtime/model_gpu.mjs (the ' +
  'WebGPU forward pass) is still the placeholder, so this page cannot answer yet.';

const now = () => globalThis.performance?.now?.() ?? Date.now();

// Loads the model module; null when it is the placeholder (exports implemented = false or no createModel).
async function importModelModule(url) {
  const mod = await import(url);
  return mod.implemented === false || typeof mod.createModel !== 'function' ? null : mod;
}

function checkModel(m) {
  for (const f of ['prefill', 'decode', 'resetKV'])
    if (typeof m?.[f] !== 'function') throw new EngineError(`[engine] the model module's model has no ${f}() — see the ` +
                                                            'contract in web/runtime/model_gpu.mjs', 'model');
  return m;
}

function stopTokenIds(config, text, tokenizerConfig) {
  const ids = new Set(config.conv_template?.stop_token_ids ?? []);
  for (const e of [config.eos_token_id].flat()) if (Number.isInteger(e)) ids.add(e);
  const eos = tokenizerConfig?.eos_token;
  const eosText = typeof eos === 'string' ? eos : eos?.content;
  const eosId = eosText != null ? text.tokenToId(eosText) : null;
  if (eosId != null) ids.add(eosId);
  return ids;
}

export class Engine {
  // options: onProgress(p), modelModuleUrl (default ./model_gpu.mjs), textWasm (where slm_text.wasm is),
  //          loader (extra options for loadArtifacts), gpu (navigator.gpu stand-in for tests)
  constructor(options = {}) {
    this.options = options;
    this.onProgress = options.onProgress ?? (() => {});
    this.chat = { completions: { create: (req) => this.create(req) } };
    this.lock = Promise.resolve();
    // Requests are numbered as they arrive; an interrupt stops every request submitted before it, also one still
    // waiting for the lock (a Stop pressed just after Send must not be lost to the request that starts later).
    this.submitted = 0;
    this.interruptedThrough = 0;
    this.reset();
  }

  reset() {
    this.model?.dispose?.();
    this.text?.dispose?.();
    this.device?.destroy?.();
    this.model = this.text = this.config = this.device = null;
    this.modelError = null;
    this.kvIds = [];
    this.stats = { prefillTokens: 0, prefillS: 0, decodeTokens: 0, decodeS: 0, ttftS: null };
    this.interruptedThrough = this.submitted;
  }

  // variants: [{url, quantization?, id?}] — the builds of one model; the f16 one is taken only with shader-f16.
  // Resolves to a summary; a placeholder model module is not an error here (the artifacts are usable),
  // it is reported by create().
  // A reload while another is under way cancels the older one (its promise rejects with code 'aborted').
  async reload(variants) {
    this.loading?.abort();
    const loading = new AbortController();
    this.loading = loading;
    const check = () => {
      if (loading.signal.aborted) throw new EngineError('[engine] this load was replaced by a newer one', 'aborted');
    };
    this.reset();
    const gpu = await detectGpu(this.options.gpu);
    check();
    this.onProgress({ phase: 'gpu', description: gpu.description, shaderF16: gpu.shaderF16, fallback: gpu.fallback });
    const variant = chooseVariant(variants, gpu.shaderF16, gpu.description);
    this.onProgress({ phase: 'variant', url: variant.url, quantization: variant.quantization });
    const artifacts = await loadArtifacts(variant.url, { ...this.options.loader, onProgress: this.onProgress,
                                                        signal: loading.signal });
    check();
    const quant = artifacts.config.quantization ?? variant.quantization;
    if (quantNeedsF16(quant) && !gpu.shaderF16) throw new GpuError(noF16Message(quant, gpu.description), 'no-f16');
    const text = await SlmText.load(artifacts.tokenizerJson, artifacts.tokenizerConfigJson,
                                    this.options.textWasm ? { wasm: this.options.textWasm } : {});
    check();
    const device = await requestDevice(gpu.adapter, { shaderF16: quantNeedsF16(quant) });
    device.lost?.then((info) => { if (this.device === device) this.modelError = new EngineError(
      `[engine] the GPU device was lost (${info.message || info.reason}) — reload the page`, 'model'); });
    const modelId = variant.id ?? `${artifacts.baseUrl.replace(/\/$/, '').split('/').pop() || 'model'}-${quant}`;
    let model = null, modelError = null;
    const mod = await importModelModule(this.options.modelModuleUrl ?? new URL('./model_gpu.mjs', import.meta.url).href);
    if (!mod) {
      modelError = new EngineError(MODEL_LIBRARY_MISSING, 'model-library-missing');
    } else {
      model = checkModel(await mod.createModel({
        device, shaderF16: quantNeedsF16(quant), config: artifacts.config, tensors: artifacts.tensors,
        adapterInfo: { description: gpu.description, fallback: gpu.fallback, limits: gpu.limits },
        files: { text: artifacts.fileText, bytes: artifacts.fileBytes }, baseUrl: artifacts.baseUrl,
        onProgress: this.onProgress,
      }));
    }
    if (loading.signal.aborted) {
      model?.dispose?.();
      text.dispose();
      device.destroy?.();
      check();
    }
    this.attach({ config: artifacts.config, text, model, modelId, tokenizerConfigJson: artifacts.tokenizerConfigJson });
    this.device = device;
    this.modelError = modelError;
    const summary = { modelId, url: artifacts.baseUrl, quantization: quant, gpu: gpu.description,
                      shaderF16: gpu.shaderF16, stats: artifacts.stats, warnings: artifacts.warnings,
                      modelReady: !!model, modelError: modelError?.message ?? null };
    this.onProgress({ phase: 'loaded', ...summary });
    return summary;
  }

  // Wires loaded parts together (reload's last step; tests hand in their own model here).
  attach({ config, text, model, modelId = 'model', tokenizerConfigJson = null }) {
    this.config = config;
    this.text = text;
    this.model = model;
    this.modelId = modelId;
    this.modelError = model ? null : new EngineError(MODEL_LIBRARY_MISSING, 'model-library-missing');
    let tokCfg = null;
    try { tokCfg = tokenizerConfigJson ? JSON.parse(tokenizerConfigJson) : null; } catch { tokCfg = null; }
    this.stopIds = stopTokenIds(config, text, tokCfg);
    this.kvIds = [];
  }

  // Stream: resolves (after validation) to an async iterable of chunks; else to the whole completion.
  async create(request) {
    if (!this.text) throw new EngineError('[engine] no model is loaded — call reload() first', 'not-loaded');
    const req = normalizeRequest(request, this.config);
    if (this.modelError || !this.model) throw this.modelError;
    const ticket = ++this.submitted;
    const release = await this.acquire();
    let gen;
    try {
      gen = this.generate(req, ticket);
      const first = await gen.next();  // prompt errors surface from create(), not from the first chunk
      if (!req.stream) {
        let content = '', finish = null, use = null;
        for (let r = first; !r.done; r = await gen.next()) {
          content += r.value.chunk.choices[0].delta.content ?? '';
          finish = r.value.chunk.choices[0].finish_reason ?? finish;
          use = r.value.usage;
        }
        release();
        const c = first.value.chunk;
        return completion(c.id, c.model, c.created, content, finish, use);
      }
      return (async function* stream() {
        try {
          for (let r = first; !r.done; r = await gen.next())
            if (r.value.chunk) yield r.value.chunk;
        } finally {
          await gen.return?.();
          release();
        }
      })();
    } catch (e) {
      await gen?.return?.();
      release();
      throw e;
    }
  }

  async acquire() {
    let release;
    const mine = new Promise((r) => { release = r; });
    const prev = this.lock;
    this.lock = prev.then(() => mine);
    await prev;
    return release;
  }

  // Yields {chunk, usage}: the first chunk carries the role, the last the finish reason (and usage when
  // stream_options.include_usage, as OpenAI puts it in one more chunk with empty choices).
  async *generate(req, ticket) {
    const id = completionId();
    const created = Math.floor(Date.now() / 1000);
    const prompt = this.text.applyChatTemplate(req.messages, { addGenerationPrompt: true });
    const ids = Array.from(this.text.encode(prompt, { addSpecialTokens: false }));
    // The model's own KV-cache size wins: mlc-chat-config.json's context_window_size is what WebLLM may use
    // (for Gemma-2 MLC caps it to the sliding window, which slm's kernels do not need).
    const window = this.model.contextWindow ?? this.config.context_window_size ?? Infinity;
    if (ids.length >= window)
      throw new EngineError(`[engine] the conversation is ${ids.length} tokens but the model's context window is ` +
                            `${window} — start a new chat (resetChat) or shorten the messages`, 'context');
    const maxTokens = Math.min(req.maxTokens, window - ids.length);
    yield { chunk: chunk(id, this.modelId, created, { role: 'assistant', content: '' }) };

    const rng = makeRng(req.sampling.seed);
    const context = [...ids];
    const sampling = () => ({ ...req.sampling, context: Int32Array.from(context) });
    const pick = (step) => {
      if (Number.isInteger(step?.token)) return step.token;
      if (step?.logits) return sampleToken(step.logits, context, req.sampling, rng);
      throw new EngineError('[engine] the model step returned neither {token} nor {logits} — see ' +
                            'web/runtime/model_gpu.mjs', 'model');
    };
    let generated = 0, finish = null;
    // Stopped while this request waited for the model (Stop right after Send): no prefill, nothing generated.
    if (this.interruptedThrough >= ticket) finish = 'abort';
    else {
      const t0 = now();
      let token = pick(await this.prefillPrompt(ids, sampling()));
      const tFirst = now();
      this.stats.prefillS += (tFirst - t0) / 1000;
      this.stats.ttftS = (tFirst - t0) / 1000;
      const decoder = this.text.streamDecoder({ skipSpecialTokens: true });
      const filter = new StopFilter(req.stop);
      let lastYield = now();
      // With a model that can chain decodes (model_gpu.mjs), the forward of the token after `token` is queued
      // before `token`'s own forward is awaited: the GPU goes on while the host reads a token back, streams it
      // and checks the stop conditions. `ahead` is that queued forward; when the answer ends it is awaited and
      // its KV position dropped (it decoded the token that ended it).
      const chains = typeof this.model.decodeChained === 'function' && typeof this.model.canChain === 'function';
      let ahead = null;
      try {
        for (;;) {
          if (this.stopIds.has(token)) { finish = 'stop'; break; }
          generated++;
          context.push(token);
          const delta = filter.push(decoder.push(token));
          if (delta) yield { chunk: chunk(id, this.modelId, created, { content: delta }) };
          if (filter.stopped) { finish = 'stop'; break; }
          if (generated >= maxTokens) { finish = 'length'; break; }
          if (now() - lastYield > 50) {  // let interruptGenerate() messages in even when steps are synchronous
            await new Promise((r) => setTimeout(r, 0));
            lastYield = now();
          }
          if (this.interruptedThrough >= ticket) { finish = 'abort'; break; }
          const t = now();
          const s = sampling();
          let current = ahead;
          ahead = null;
          if (!current) current = chains && this.model.canChain(s) ? this.model.decodeChained(s) : this.model.decode(token, s);
          if (chains && generated + 1 < maxTokens && this.model.canChain(s)) ahead = this.model.decodeChained(s);
          token = pick(await current);
          this.kvIds.push(context[context.length - 1]);
          this.stats.decodeTokens++;
          this.stats.decodeS += (now() - t) / 1000;
        }
        const rest = filter.push(decoder.finish()) + filter.flush();
        if (rest) yield { chunk: chunk(id, this.modelId, created, { content: rest }) };
      } finally {
        decoder.free();
        if (ahead) {  // the forward queued for a token that ended the answer: let it finish, then forget it
          await ahead.catch(() => {});
          this.model.truncateKV(this.kvIds.length);
        }
      }
    }
    const use = usage(ids.length, generated, this.statsNumbers());
    yield { chunk: chunk(id, this.modelId, created, {}, finish), usage: use };
    if (req.includeUsage) yield { chunk: { id, object: 'chat.completion.chunk', created, model: this.modelId,
                                           choices: [], usage: use }, usage: use };
  }

  // Feeds the prompt, reusing the KV cache's common prefix with it (the previous turns).
  async prefillPrompt(ids, sampling) {
    let common = 0;
    while (common < this.kvIds.length && common < ids.length && this.kvIds[common] === ids[common]) common++;
    if (common === ids.length) common--;  // at least one id must be fed to get the next token
    if (common < this.kvIds.length) {
      if (common > 0 && typeof this.model.truncateKV === 'function') this.model.truncateKV(common);
      else { this.model.resetKV(); common = 0; }
    }
    const fresh = Int32Array.from(ids.slice(common));
    const step = await this.model.prefill(fresh, sampling);
    this.kvIds = ids.slice();
    this.stats.prefillTokens += fresh.length;
    return step;
  }

  interruptGenerate() { this.interruptedThrough = this.submitted; }

  async resetChat(keepStats = false) {
    this.interruptedThrough = this.submitted;
    const release = await this.acquire();
    try {
      this.model?.resetKV();
      this.kvIds = [];
      if (!keepStats) this.stats = { prefillTokens: 0, prefillS: 0, decodeTokens: 0, decodeS: 0, ttftS: null };
    } finally {
      release();
    }
  }

  statsNumbers() {
    const s = this.stats;
    return { prefillTokPerS: s.prefillS > 0 ? s.prefillTokens / s.prefillS : 0,
             decodeTokPerS: s.decodeS > 0 ? s.decodeTokens / s.decodeS : 0, ttftS: s.ttftS };
  }

  // As WebLLM: "prefill: X tokens/sec, decoding: Y tokens/sec".
  runtimeStatsText() {
    const n = this.statsNumbers();
    return `prefill: ${n.prefillTokPerS.toFixed(1)} tokens/sec, decoding: ${n.decodeTokPerS.toFixed(1)} tokens/sec`;
  }

  unload() {
    this.loading?.abort();
    this.reset();
  }
}

export { GpuError, RequestError };
