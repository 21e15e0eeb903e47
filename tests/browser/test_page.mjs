// The chat page in a real browser: Debian's chromium, headless, driven by playwright-core, WebGPU through
// --enable-unsafe-webgpu (SwiftShader on a machine without a GPU: no shader-f16), everything served by
// `slm serve` on 127.0.0.1. A tiny qwen2 export in two builds (q4f16_1/, q4f32_1/) listed in models.json,
// and the page copied into q4f32_1/ as well (the layout `slm pipeline` writes: page beside the artifacts).
// Checks: the build chosen and the WebGPU message match what the browser offers; download progress; the
// shards land in the Cache API and the GPU kernels compile; Enter sends and Shift+Enter adds a line; the
// answer streams in and the stop button cuts it; the page's greedy answer (template, tokenizer and the model
// library in the browser) is the text native `slm generate --chat` prints; model text is never parsed as HTML;
// no horizontal scroll at 375 px; the page and the model load again with the server stopped (service worker
// + the loader's cache); without WebGPU the page says so. Screenshots go to ARTIFACT_DIR.
//   node tests/browser/test_page.mjs SLM_EXE SLM_TEXT_WASM ARTIFACT_DIR
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { execFileSync } from 'node:child_process';

import { copyPage, exportModel, makeTmp, preflight, serve } from './site.mjs';

const [slm, wasm, artifacts = 'build/artifacts'] = process.argv.slice(2);
preflight(process.argv[1], slm, wasm);
const browserPath = process.env.SLM_CHROMIUM ?? '/usr/bin/chromium';
if (!fs.existsSync(browserPath)) {
  console.error(`FAIL: no browser at ${browserPath} — tools/install_deps installs Debian's chromium (or set SLM_CHROMIUM)`);
  process.exit(1);
}
const { chromium } = await import('playwright-core').catch((e) => {
  console.error(`FAIL: playwright-core is not installed (${e.message}) — run tools/install_deps (npm ci)`);
  process.exit(1);
});
fs.mkdirSync(artifacts, { recursive: true });

let tmp, site, server, browser, page, loadedBuild;
const pageErrors = [];

before(async () => {
  tmp = makeTmp('slm-page-');
  site = path.join(tmp, 'site');
  fs.mkdirSync(site);
  copyPage(site, wasm);
  for (const q of ['q4f16_1', 'q4f32_1']) exportModel(slm, tmp, q, path.join(site, q));
  copyPage(path.join(site, 'q4f32_1'), wasm);  // `slm pipeline`'s layout: the page beside the artifacts
  fs.writeFileSync(path.join(site, 'models.json'), JSON.stringify({ models: [{ id: 'tiny-qwen2', name: 'tiny Qwen2 (test)',
    variants: [{ url: 'q4f16_1/', quantization: 'q4f16_1' }, { url: 'q4f32_1/', quantization: 'q4f32_1' }] }] }));
  server = await serve(slm, site);
  browser = await chromium.launch({ executablePath: browserPath, args: ['--enable-unsafe-webgpu'] });
  page = await browser.newPage({ viewport: { width: 1000, height: 760 } });
  page.on('pageerror', (e) => pageErrors.push(e.message));
});

after(async () => {
  await browser?.close();
  await server?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const settled = () => page.waitForSelector('body[data-state]', { timeout: 30000 });
const text = (sel) => page.locator(sel).innerText();

test('loads the build this GPU can run, shows download progress, caches the shards', async () => {
  await page.goto(`${server.url}?testhooks=1`);
  await settled();
  const offered = await page.evaluate(async () => {
    if (!navigator.gpu) return 'none';
    const a = await navigator.gpu.requestAdapter();
    return !a ? 'no-adapter' : a.features.has('shader-f16') ? 'f16' : 'f32';
  });
  console.log(`[page] the browser offers: ${offered}; gpu status: ${await text('#gpu-status')}`);
  assert.ok(['f16', 'f32'].includes(offered), `this test needs a WebGPU adapter (SwiftShader), got ${offered}`);
  const status = await text('#gpu-status');
  const build = loadedBuild = offered === 'f16' ? 'q4f16_1' : 'q4f32_1';
  assert.match(status, offered === 'f16' ? /shader-f16 is available/ : /shader-f16 is not available — the q4f32_1 build is used/);
  const progress = await page.evaluate(() => window.__slmTest.progress);
  assert.equal(progress.find((p) => p.phase === 'variant').quantization, build);
  const dl = progress.filter((p) => p.phase === 'download');
  assert.ok(dl.length >= 2 && dl[0].loaded === 0 && dl.at(-1).loaded === dl.at(-1).total && dl.at(-1).total > 0);
  assert.match(await text('#progress-text'), /Weights downloaded \([\d.]+ MB, checked: md5\+size\) .* kept for offline use/);
  const cached = await page.evaluate(async (b) => {
    const name = `slm-model:${new URL(`${b}/`, location.href).href}`;
    const keys = await (await caches.open(name)).keys();
    return { names: await caches.keys(), files: keys.map((r) => r.url.split('/').pop()) };
  }, build);
  assert.ok(cached.files.includes('params_shard_0.bin'), JSON.stringify(cached));
  assert.ok(cached.files.includes('tensor-cache.json') && cached.files.includes('tokenizer.json'));
  assert.equal(await page.getAttribute('body', 'data-state'), 'loaded');
  assert.match(await text('#notice'), /^Ready: /);
  assert.match(await text('#progress-text'), /\d+ GPU kernels ready/);
  const compiled = progress.filter((p) => p.phase === 'compile');
  assert.ok(compiled.length >= 2 && compiled.at(-1).done === compiled.at(-1).total, JSON.stringify(compiled.at(-1)));
});

test('Enter sends, Shift+Enter adds a line; the answer streams in', async () => {
  const input = page.locator('#input');
  await input.click();
  await input.pressSequentially('line one');
  await input.press('Shift+Enter');
  await input.pressSequentially('line two');
  assert.equal(await input.inputValue(), 'line one\nline two');
  assert.equal(await page.locator('.msg').count(), 0);
  await input.press('Enter');
  await page.waitForSelector('.msg.assistant');
  assert.equal(await input.inputValue(), '');
  assert.equal(await page.locator('.msg.user .content').innerText(), 'line one\nline two');
  await page.waitForFunction(() => !window.__slmTest.state.busy, null, { timeout: 60000 });
  assert.equal(await page.locator('.msg.assistant.error').count(), 0, await page.locator('.msg.assistant').last().innerText());
  assert.ok((await page.locator('.msg.assistant .content').innerText()).length > 0, 'an answer was written');
  assert.match(await text('#stats'), /prefill: [\d.]+ tok\/s, decoding: [\d.]+ tok\/s/);
  assert.equal(await page.locator('#send-btn').isDisabled(), false, 'the page is usable again');
  console.log(`[page] answer: ${JSON.stringify(await page.locator('.msg.assistant .content').innerText())}; ${await text('#stats')}`);
});

test('the browser answers with the same greedy text as native slm', async () => {
  const question = 'Is water damage covered?';
  const got = await page.evaluate((q) => window.__slmTest.complete({
    messages: [{ role: 'user', content: q }], temperature: 0, max_tokens: 24 }), question);
  // Native on the export the page loaded (the int4 weights, dequantised), not on the f32 original.
  const native = execFileSync(slm, ['generate', path.join(site, loadedBuild), '--prompt', question, '--chat', '--max-tokens', '24'],
                              { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).replace(/\n$/, '');
  console.log(`[page] greedy: browser ${JSON.stringify(got.text)} (${got.finish}, ${got.tokens} tokens); native ${JSON.stringify(native)}`);
  assert.ok(got.tokens > 0);
  // The engine also stops at the chat template's stop ids, native generate at the model's eos ids only.
  if (got.finish === 'length') assert.equal(got.text, native);
  else assert.ok(native.startsWith(got.text), 'the browser stopped early, on a prefix of the native text');
});

test('the stop button ends a streaming answer', async () => {
  await page.evaluate(() => window.__slmTest.setMaxTokens(100000));
  // A new chat: the first test's answer can fill most of the fixture's 256 positions, and a question on top of
  // it would stop at once with the context error instead of streaming.
  await page.locator('#new-chat-btn').click();
  const input = page.locator('#input');
  await input.fill('Tell me everything about deductibles.');
  await input.press('Enter');
  // At once: the random tiny model's first tokens are often partial UTF-8 (no text shows yet), and a whole
  // answer takes seconds on SwiftShader, so waiting for text could miss the window in which Stop is enabled.
  await page.locator('#stop-btn').click({ timeout: 5000 });
  await page.waitForFunction(() => !window.__slmTest.state.busy, null, { timeout: 30000 });
  const meta = await page.locator('.msg.assistant').last().locator('.meta').innerText();
  assert.match(meta, /stopped/);
  await page.evaluate(() => window.__slmTest.setMaxTokens(null));
});

test('model text is rendered as text, never as HTML', async () => {
  const pieces = ['<b>', 'bold', '</b> & <img src=x onerror="window.__pwned=1"> ', '<script>window.__pwned=2</script>'];
  const result = await page.evaluate((ps) => {
    const box = window.__slmTest.renderAnswer(ps);
    const c = box.querySelector('.content');
    return { text: c.textContent, elements: c.children.length, html: c.innerHTML, pwned: window.__pwned ?? null };
  }, pieces);
  assert.equal(result.text, pieces.join(''));
  assert.equal(result.elements, 0);
  assert.ok(result.html.startsWith('&lt;b&gt;bold&lt;/b&gt; &amp; &lt;img'));
  assert.equal(result.pwned, null);
  await page.screenshot({ path: path.join(artifacts, 'page.png') });
});

test('narrow phone screen: no horizontal scroll at 375 px', async () => {
  await page.setViewportSize({ width: 375, height: 740 });
  await page.evaluate(() => window.__slmTest.renderAnswer(['x'.repeat(300), ' a very long unbroken model token']));
  const w = await page.evaluate(() => ({ doc: document.documentElement.scrollWidth, body: document.body.scrollWidth,
                                         inner: window.innerWidth }));
  assert.ok(w.doc <= w.inner && w.body <= w.inner, JSON.stringify(w));
  for (const sel of ['#send-btn', '#stop-btn', '#input', '#model-select', '#load-btn']) {
    const box = await page.locator(sel).boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 375 + 0.5, `${sel} inside the screen: ${JSON.stringify(box)}`);
  }
  await page.screenshot({ path: path.join(artifacts, 'page-narrow.png'), fullPage: true });
  await page.setViewportSize({ width: 1000, height: 760 });
});

test('the page beside an export (no models.json) loads that folder', async () => {
  const context = await browser.newContext();
  try {
    const p = await context.newPage();
    await p.goto(`${server.url}q4f32_1/?testhooks=1`);
    await p.waitForSelector('body[data-state]', { timeout: 30000 });
    assert.equal(await p.getAttribute('body', 'data-state'), 'loaded', await p.locator('#notice').innerText());
    const variant = await p.evaluate(() => window.__slmTest.progress.find((e) => e.phase === 'variant'));
    assert.equal(variant.url, `${server.url}q4f32_1/`);
    assert.equal(await p.locator('#model-url').inputValue(), './');
  } finally {
    await context.close();
  }
});

test('without WebGPU the page says so', async () => {
  const plain = await chromium.launch({ executablePath: browserPath, args: ['--disable-features=WebGPU'] });
  try {
    const p = await plain.newPage();
    await p.goto(`${server.url}?testhooks=1`);
    await p.waitForSelector('body[data-state]', { timeout: 30000 });
    const status = await p.locator('#gpu-status').innerText();
    console.log(`[page] without WebGPU: ${status}`);
    assert.match(status, /does not offer WebGPU|offers no GPU adapter/);
    assert.equal(await p.getAttribute('#gpu-status', 'class'), 'notice error');
    assert.equal(await p.locator('#send-btn').isDisabled(), true);
  } finally {
    await plain.close();
  }
});

test('reload with the server stopped: the page and the model come from the browser\'s caches', async () => {
  await page.evaluate(async () => { await navigator.serviceWorker.ready; });
  await server.stop();
  await page.reload();
  await settled();
  assert.equal(await page.getAttribute('body', 'data-state'), 'loaded', await text('#notice'));
  assert.match(await text('#progress-text'), /Weights loaded from this browser's cache .* works offline/);
  const progress = await page.evaluate(() => window.__slmTest.progress);
  const ready = progress.find((p) => p.phase === 'ready');
  assert.equal(ready.bytesDownloaded, 0);
  assert.equal(ready.shardsFromCache, ready.shards);
  assert.match(await text('#notice'), /^Ready: /);
  await page.screenshot({ path: path.join(artifacts, 'page-offline.png') });
  assert.deepEqual(pageErrors, []);
});
