// The browser runtime's logic in node (no browser, no GPU): web/runtime/md5.mjs against node:crypto and the
// md5sum the C++ exporter writes; web/runtime/loader.mjs against a real `slm export` served by `slm serve`
// (download, progress, integrity failures, cache reuse offline, stale cache, quota); the sampler and
// stop-string filter; and the engine's OpenAI-style loop (web/runtime/engine.mjs) with the real tokenizer
// wasm and a scripted stand-in for the model (the GPU forward does not exist yet).
//   node tests/browser/test_runtime.mjs SLM_EXE SLM_TEXT_WASM
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { SlmText } from '../../web/text/slm_text.mjs';
import { Engine, EngineError } from '../../web/runtime/engine.mjs';
import { chooseVariant } from '../../web/runtime/gpu.mjs';
import { loadArtifacts, LoaderError, modelCacheName } from '../../web/runtime/loader.mjs';
import { Md5, md5Hex } from '../../web/runtime/md5.mjs';
import { StopFilter } from '../../web/runtime/openai.mjs';
import { argmax, makeRng, sampleToken } from '../../web/runtime/sampler.mjs';
import { exportModel, makeTmp, MemoryCaches, preflight, readSafetensorF32, root, serve } from './site.mjs';

const [slm, wasm] = process.argv.slice(2);
preflight(process.argv[1], slm, wasm);

let tmp, dist, server;
before(async () => {
  tmp = makeTmp('slm-runtime-');
  dist = exportModel(slm, tmp, 'q4f32_1', path.join(tmp, 'dist'));
  server = await serve(slm, dist);
});
after(async () => {
  await server?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('md5: RFC 1321 vectors, random data in odd pieces, and the exporter\'s md5sum', () => {
  assert.equal(md5Hex(new TextEncoder().encode('')), 'd41d8cd98f00b204e9800998ecf8427e');
  assert.equal(md5Hex(new TextEncoder().encode('message digest')), 'f96b697d7cb7938d525a2f31aaf161d0');
  for (const n of [1, 55, 56, 63, 64, 65, 1000, 100003]) {
    const data = crypto.randomBytes(n);
    const h = new Md5();
    for (let i = 0; i < n; i += 37) h.update(data.subarray(i, i + 37));
    assert.equal(h.hex(), crypto.createHash('md5').update(data).digest('hex'), `${n} bytes`);
    const unaligned = new Uint8Array(n + 1);
    unaligned.set(data, 1);
    assert.equal(md5Hex(unaligned.subarray(1)), crypto.createHash('md5').update(data).digest('hex'));
  }
  const tc = JSON.parse(fs.readFileSync(path.join(dist, 'tensor-cache.json'), 'utf8'));
  for (const s of tc.records) assert.equal(md5Hex(fs.readFileSync(path.join(dist, s.dataPath))), s.md5sum);
});

test('loader: downloads, verifies and returns every record; f32 records equal the HF checkpoint', async () => {
  const caches = new MemoryCaches();
  const events = [];
  const a = await loadArtifacts(server.url, { caches, onProgress: (p) => events.push(p) });
  const tc = JSON.parse(fs.readFileSync(path.join(dist, 'tensor-cache.json'), 'utf8'));
  const names = tc.records.flatMap((s) => s.records.map((r) => r.name));
  assert.deepEqual([...a.tensors.keys()], names);
  assert.equal(a.config.quantization, 'q4f32_1');
  assert.equal(a.stats.bytesDownloaded, a.stats.bytesTotal);
  assert.equal(a.stats.verified, 'md5+size');
  const dl = events.filter((e) => e.phase === 'download');
  assert.ok(dl.length >= 2, 'progress reported at the start and per shard');
  for (let i = 1; i < dl.length; ++i) assert.ok(dl[i].loaded >= dl[i - 1].loaded, 'progress is monotonic');
  assert.equal(dl.at(-1).loaded, dl.at(-1).total);
  // q4f32_1 keeps norms and biases as raw float32: bit-identical to the checkpoint.
  const hf = path.join(root, 'tests/fixtures/models/qwen2/model.safetensors');
  const norm = a.tensors.get('model.norm.weight');
  assert.equal(norm.dtype, 'float32');
  assert.deepEqual(Array.from(norm.data), Array.from(readSafetensorF32(hf, 'model.norm.weight')));
  const qw = a.tensors.get('model.embed_tokens.q_weight');
  assert.ok(qw.data instanceof Uint32Array);
  assert.deepEqual(qw.shape, [320, 8]);  // (V, 4·⌈C/32⌉) words
  assert.equal(a.tokenizerJson, fs.readFileSync(path.join(dist, 'tokenizer.json'), 'utf8'));
  assert.ok(a.tokenizerConfigJson.includes('chat_template'));
  assert.ok((await caches.open(modelCacheName(server.url))), 'cache per model URL');
});

test('loader: the second load needs no network (server unreachable) and reads the same bytes', async () => {
  const caches = new MemoryCaches();
  const first = await loadArtifacts(server.url, { caches });
  const offline = () => Promise.reject(new TypeError('fetch failed'));
  const second = await loadArtifacts(server.url, { caches, fetch: offline, rehashCached: true });
  assert.equal(second.stats.bytesDownloaded, 0);
  assert.equal(second.stats.shardsFromCache, second.stats.shards);
  for (const [name, r] of first.tensors) assert.deepEqual(second.tensors.get(name).bytes, r.bytes, name);
  await assert.rejects(loadArtifacts(server.url, { caches: new MemoryCaches(), fetch: offline }),
                       (e) => e instanceof LoaderError && e.code === 'offline' && /load the model once while online/.test(e.message));
});

test('loader: a corrupt or truncated shard is refused and not cached; a stale cached shard is replaced', async () => {
  const bad = path.join(tmp, 'corrupt');
  fs.cpSync(dist, bad, { recursive: true });
  const shard = path.join(bad, 'params_shard_0.bin');
  const bytes = fs.readFileSync(shard);
  bytes[bytes.length >> 1] ^= 0x40;
  fs.writeFileSync(shard, bytes);
  const s2 = await serve(slm, bad);
  try {
    const caches = new MemoryCaches();
    await assert.rejects(loadArtifacts(s2.url, { caches }),
                         (e) => e.code === 'integrity' && /MD5 [0-9a-f]{32}, but tensor-cache.json lists/.test(e.message));
    const c = await caches.open(modelCacheName(s2.url));
    assert.equal(await c.match(new URL('params_shard_0.bin', s2.url).href), undefined, 'nothing cached');
    fs.writeFileSync(shard, bytes.subarray(0, 1000));
    await assert.rejects(loadArtifacts(s2.url, { caches }), (e) => e.code === 'integrity' && /ended after 1000 of/.test(e.message));
    // A cache filled from another export at the same URL: the recorded MD5 differs, so it is downloaded again.
    fs.copyFileSync(path.join(dist, 'params_shard_0.bin'), shard);
    const stale = await caches.open(modelCacheName(s2.url));
    await stale.put(new URL('params_shard_0.bin', s2.url).href,
                    new Response(new Uint8Array(bytes.length), { headers: { 'X-Slm-Md5': '0'.repeat(32) } }));
    const a = await loadArtifacts(s2.url, { caches });
    assert.equal(a.stats.shardsFromCache, 0);
  } finally {
    await s2.stop();
  }
  await assert.rejects(loadArtifacts(new URL('no-such-export/', server.url).href, { caches: new MemoryCaches() }),
                       (e) => e.code === 'http' && /mlc-chat-config.json: HTTP 404/.test(e.message));
});

test('loader: storage quota exceeded -> the model still loads, with a message saying how much is needed', async () => {
  const quota = new MemoryCaches({ failPut: (url) => {
    if (url.endsWith('.bin')) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
  } });
  const storage = { estimate: async () => ({ quota: 50e6, usage: 49.99e6 }), persist: async () => false };
  const a = await loadArtifacts(server.url, { caches: quota, storage });
  assert.equal(a.tensors.size > 0, true);
  assert.equal(a.stats.cached, false);
  const total = (a.stats.bytesTotal / 1e6).toFixed(2);
  assert.ok(a.warnings.some((w) => w.includes(`needs ${total} MB of storage`) && w.includes('storage is full')), a.warnings.join('\n'));
  assert.ok(a.warnings.some((w) => /more browser storage but only 0.01 MB are free/.test(w)), 'checked before download');
});

test('variant choice: f16 build with shader-f16, q4f32_1 without, a clear error when only f16 exists', () => {
  const both = [{ url: 'a/q4f16_1/' }, { url: 'b/', quantization: 'q4f32_1' }];
  assert.equal(chooseVariant(both, true).url, 'a/q4f16_1/');
  assert.equal(chooseVariant(both, false).url, 'b/');
  assert.throws(() => chooseVariant([{ url: 'x/', quantization: 'q4f16_1' }], false, 'SwiftShader'),
                (e) => e.code === 'no-f16' && /shader-f16/.test(e.message) && /q4f32_1/.test(e.message));
});

test('sampler and stop filter', () => {
  const logits = Float32Array.from([0.1, 2.0, -1.0, 1.9]);
  assert.equal(sampleToken(logits, [], { temperature: 0 }, makeRng(1)), 1);
  assert.equal(sampleToken(logits, [], { temperature: 1.5, top_k: 1 }, makeRng(1)), 1);
  assert.equal(sampleToken(logits, [], { temperature: 1, top_p: 1e-6 }, makeRng(7)), 1);
  // repetition penalty 2 on token 1 (2.0 -> 1.0): token 3 wins greedily.
  assert.equal(sampleToken(logits, [1], { temperature: 0, repetition_penalty: 2 }, makeRng(1)), 3);
  const rng = makeRng(3), counts = [0, 0, 0, 0];
  for (let i = 0; i < 4000; ++i) counts[sampleToken(logits, [], { temperature: 1 }, rng)]++;
  const p = Array.from(logits, Math.exp), z = p.reduce((a, b) => a + b);
  for (let i = 0; i < 4; ++i) assert.ok(Math.abs(counts[i] / 4000 - p[i] / z) < 0.03, `softmax frequency of ${i}`);
  assert.equal(argmax([3, 1, 3]), 0);
  const f = new StopFilter(['o W', 'zz']);
  assert.equal(f.push('Hel') + f.push('lo') + f.push(' Wor') + f.push('ld'), 'Hell');
  assert.ok(f.stopped);
  const g = new StopFilter(['END']);
  assert.equal(g.push('a E') + g.push('N') + g.push('x'), 'a ENx');
});

// ---- the engine -------------------------------------------------------------------------------------

// Stand-in for model_gpu.mjs: every answer follows a fixed token script, as logits (or as GPU-sampled tokens).
// chained: it also offers canChain/decodeChained as model_gpu.mjs does (the next forward's input is the
// token the previous one chose, queued before the host has it), and records how many forwards were in flight.
function scriptedModel(script, { vocab = 320, tokens = false, chained = false } = {}) {
  const calls = [];
  let pos = 0;
  const step = (fed) => {
    const next = script[Math.min(pos++, script.length - 1)];
    if (tokens) return { token: next };
    const logits = new Float32Array(vocab).fill(-5);
    logits[next] = 5;
    return { logits };
  };
  const m = {
    calls, vocabSize: vocab, contextWindow: 256, inFlight: 0, maxInFlight: 0,
    async prefill(ids) { calls.push(['prefill', Array.from(ids)]); pos = 0; return step(ids); },
    async decode(id) {
      assert.equal(m.inFlight, 0, 'decode(id) while a chained forward is still in flight');
      calls.push(['decode', id]); await new Promise((r) => setTimeout(r, 2)); return step([id]);
    },
    resetKV() { calls.push(['reset']); pos = 0; },
    truncateKV(n) { assert.equal(m.inFlight, 0, 'truncateKV while a forward is in flight'); calls.push(['truncate', n]); },
  };
  if (chained) {
    m.canChain = () => m.inFlight < 2;
    m.decodeChained = () => {
      assert.ok(m.inFlight < 2, 'more than two forwards in flight');
      calls.push(['chained']);
      m.maxInFlight = Math.max(m.maxInFlight, ++m.inFlight);
      const r = step(null);
      return new Promise((res) => setTimeout(() => { m.inFlight--; res(r); }, 2));
    };
  }
  return m;
}

async function engineWith(model) {
  const config = JSON.parse(fs.readFileSync(path.join(dist, 'mlc-chat-config.json'), 'utf8'));
  const tokJson = fs.readFileSync(path.join(dist, 'tokenizer.json'), 'utf8');
  const tokCfg = fs.readFileSync(path.join(dist, 'tokenizer_config.json'), 'utf8');
  const text = await SlmText.load(tokJson, tokCfg, { wasm });
  const engine = new Engine();
  engine.attach({ config, text, model, modelId: 'tiny', tokenizerConfigJson: tokCfg });
  return { engine, text };
}

test('engine: streamed chunks and the whole response agree with the tokenizer\'s decode of the tokens', async () => {
  const probe = await SlmText.load(fs.readFileSync(path.join(dist, 'tokenizer.json'), 'utf8'), null, { wasm });
  const words = Array.from(probe.encode('the cat <b>sat</b>', { addSpecialTokens: false }));
  const eos = probe.tokenToId('<|im_end|>');
  const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }];
  for (const [tokens, chained] of [[false, false], [true, false], [true, true]]) {
    const model = scriptedModel([...words, eos], { tokens, chained });
    const { engine, text } = await engineWith(model);
    const chunks = [];
    for await (const c of await engine.chat.completions.create({ messages, stream: true, temperature: 0 })) chunks.push(c);
    assert.equal(chunks[0].object, 'chat.completion.chunk');
    assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
    const streamed = chunks.map((c) => c.choices[0].delta.content ?? '').join('');
    assert.equal(streamed, probe.decode(words, { skipSpecialTokens: true }));
    const prompt = text.applyChatTemplate(messages, { addGenerationPrompt: true });
    const promptIds = Array.from(text.encode(prompt, { addSpecialTokens: false }));
    assert.deepEqual(model.calls[0], ['prefill', promptIds]);
    if (!chained) assert.equal(model.calls.filter((c) => c[0] === 'decode').length, words.length);
    else {
      // One forward per word, plus the one queued for the end-of-turn token, dropped from the KV cache again.
      assert.equal(model.calls.filter((c) => c[0] === 'decode').length, 0);
      assert.equal(model.calls.filter((c) => c[0] === 'chained').length, words.length + 1);
      assert.deepEqual(model.calls.at(-1), ['truncate', promptIds.length + words.length]);
      assert.equal(model.maxInFlight, 2, 'the next forward was not queued ahead');
    }

    model.resetKV();
    const whole = await engine.chat.completions.create({ messages, temperature: 0 });
    assert.equal(whole.object, 'chat.completion');
    assert.equal(whole.choices[0].message.content, streamed);
    assert.equal(whole.usage.completion_tokens, words.length);
    assert.match(engine.runtimeStatsText(), /^prefill: [\d.]+ tokens\/sec, decoding: [\d.]+ tokens\/sec$/);
  }
});

for (const chained of [false, true])
test(`engine: max_tokens, stop strings, interrupt, KV reuse across turns, resetChat, errors${chained ? ' (chained decodes)' : ''}`, async () => {
  const model = scriptedModel([10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30],
                              { tokens: chained, chained });
  const { engine, text } = await engineWith(model);
  const ask = [{ role: 'user', content: 'count' }];
  const r1 = await engine.chat.completions.create({ messages: ask, max_tokens: 3, temperature: 0 });
  assert.equal(r1.choices[0].finish_reason, 'length');
  assert.equal(r1.usage.completion_tokens, 3);
  const expected = text.decode([10, 11, 12], { skipSpecialTokens: true });
  assert.equal(r1.choices[0].message.content, expected);

  // Turn 2 extends turn 1: only the new ids are prefilled (the template re-renders the same prefix).
  const prefillsBefore = model.calls.filter((c) => c[0] === 'prefill').length;
  const turn2 = [...ask, { role: 'assistant', content: expected }, { role: 'user', content: 'more' }];
  await engine.chat.completions.create({ messages: turn2, max_tokens: 2, temperature: 0 });
  const p2 = model.calls.filter((c) => c[0] === 'prefill')[prefillsBefore];
  const full = text.encode(text.applyChatTemplate(turn2, { addGenerationPrompt: true }), { addSpecialTokens: false });
  assert.ok(p2[1].length < full.length, `prefilled ${p2[1].length} of ${full.length} ids`);
  assert.deepEqual(p2[1], Array.from(full.slice(full.length - p2[1].length)));

  const stopText = text.decode([13, 14], { skipSpecialTokens: true });
  const r3 = await engine.chat.completions.create({ messages: ask, stop: stopText, temperature: 0 });
  assert.equal(r3.choices[0].finish_reason, 'stop');
  assert.ok(!r3.choices[0].message.content.includes(stopText));

  const stream = await engine.chat.completions.create({ messages: ask, stream: true, temperature: 0 });
  let n = 0, finish = null;
  for await (const c of stream) {
    if (++n === 3) engine.interruptGenerate();
    finish = c.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(finish, 'abort');
  // Stop pressed right after Send, while the request still waits for the model: it ends as 'abort' with nothing
  // generated, and the next request is not affected.
  const early = engine.chat.completions.create({ messages: ask, temperature: 0 });
  engine.interruptGenerate();
  const r4 = await early;
  assert.equal(r4.choices[0].finish_reason, 'abort');
  assert.equal(r4.choices[0].message.content, '');
  assert.equal(r4.usage.completion_tokens, 0);
  const r5 = await engine.chat.completions.create({ messages: ask, temperature: 0, max_tokens: 2 });
  assert.equal(r5.choices[0].finish_reason, 'length');
  if (chained) {
    assert.equal(model.calls.filter((c) => c[0] === 'decode').length, 0, 'a chaining model was decoded synchronously');
    assert.ok(model.calls.some((c) => c[0] === 'truncate'), 'no queued forward was ever dropped');
  }
  await engine.resetChat();
  assert.deepEqual(model.calls.at(-1), ['reset']);
  assert.equal(engine.runtimeStatsText(), 'prefill: 0.0 tokens/sec, decoding: 0.0 tokens/sec');

  await assert.rejects(engine.chat.completions.create({ messages: [] }), /messages must be a non-empty array/);
  await assert.rejects(engine.chat.completions.create({ messages: [{ role: 'assistant', content: 'x' }] }), /last message/);
  await assert.rejects(engine.chat.completions.create({ messages: ask, temperature: 5 }), /temperature must be/);
  const long = [{ role: 'user', content: 'word '.repeat(400) }];
  await assert.rejects(engine.chat.completions.create({ messages: long }), (e) => e.code === 'context');

  const { engine: missing } = await engineWith(null);
  await assert.rejects(missing.chat.completions.create({ messages: ask }),
                       (e) => e instanceof EngineError && e.code === 'model-library-missing' && /not built yet/.test(e.message));
});
