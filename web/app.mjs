// The chat page's logic: model picker, download progress, the conversation, stop, stats. The engine runs in
// worker.mjs behind runtime/worker_client.mjs, so nothing here blocks. Model text is always inserted as
// text nodes (never innerHTML). Models: ?model=URL[,URL…] (the builds of one model), else models.json beside
// the page ({"models": [{"id", "name", "variants": [{"url", "quantization"}]}]}), else the page's own folder.

import { WebWorkerEngine } from './runtime/worker_client.mjs';

const $ = (id) => document.getElementById(id);
const ui = {
  gpu: $('gpu-status'), notice: $('notice'), progressBox: $('progress-box'), progress: $('progress'),
  progressText: $('progress-text'), select: $('model-select'), url: $('model-url'), modelForm: $('model-form'),
  messages: $('messages'), input: $('input'), composer: $('composer'), send: $('send-btn'), stop: $('stop-btn'),
  newChat: $('new-chat-btn'), system: $('system-prompt'), stats: $('stats'),
};
const state = { models: [], history: [], busy: false, loaded: false, loadSeq: 0, variant: null };
const mb = (n) => `${(n / 1e6).toFixed(n < 1e7 ? 2 : 1)} MB`;

function setNotice(el, text, kind) {
  el.textContent = text;
  el.className = `notice ${kind}`;
  el.hidden = !text;
}

function updateButtons() {
  ui.send.disabled = !state.loaded || state.busy;
  ui.stop.disabled = !state.busy;
}

// ---- the conversation -------------------------------------------------------------------------------

function addMessage(role, text = '') {
  const box = document.createElement('div');
  box.className = `msg ${role}`;
  const label = document.createElement('span');
  label.className = 'role';
  label.textContent = role === 'user' ? 'You' : 'Assistant';
  const content = document.createElement('div');
  content.className = 'content';
  content.textContent = text;
  box.append(label, content);
  ui.messages.append(box);
  scrollToEnd();
  return { box, content };
}

function scrollToEnd() {
  const m = ui.messages;
  if (m.scrollHeight - m.scrollTop - m.clientHeight < 120) m.scrollTop = m.scrollHeight;
}

// The one place model output reaches the DOM: as a text node.
function appendText(bubble, delta) {
  bubble.content.append(document.createTextNode(delta));
  scrollToEnd();
}

function addMeta(bubble, text) {
  const meta = document.createElement('span');
  meta.className = 'meta';
  meta.textContent = text;
  bubble.box.append(meta);
}

function showError(bubble, err) {
  bubble.box.classList.add('error');
  bubble.content.textContent = err.message ?? String(err);
}

async function send() {
  const text = ui.input.value;
  if (!text.trim() || state.busy || !state.loaded) return;
  ui.input.value = '';
  state.busy = true;
  updateButtons();
  addMessage('user', text);
  state.history.push({ role: 'user', content: text });
  const bubble = addMessage('assistant');
  const system = ui.system.value.trim();
  const messages = [...(system ? [{ role: 'system', content: system }] : []), ...state.history];
  let answer = '', finish = null;
  try {
    const stream = await engine.chat.completions.create({ messages, stream: true, stream_options: { include_usage: true },
                                                          ...(state.maxTokens ? { max_tokens: state.maxTokens } : {}) });
    for await (const c of stream) {
      const ch = c.choices[0];
      if (ch?.delta?.content) {
        answer += ch.delta.content;
        appendText(bubble, ch.delta.content);
      }
      if (ch?.finish_reason) finish = ch.finish_reason;
    }
    state.history.push({ role: 'assistant', content: answer });
    if (finish === 'abort') addMeta(bubble, 'stopped');
    else if (finish === 'length') addMeta(bubble, 'cut at the token limit');
    ui.stats.textContent = (await engine.runtimeStatsText()).replace(/tokens\/sec/g, 'tok/s');
  } catch (e) {
    state.history.pop();  // the failed question is not part of the conversation
    showError(bubble, e);
  } finally {
    state.busy = false;
    updateButtons();
    ui.input.focus();
  }
}

// ---- the engine and loading -----------------------------------------------------------------------------

function onProgress(p) {
  window.__slmTest?.progress.push(p);
  switch (p.phase) {
    case 'gpu': {
      const sw = p.fallback || /swiftshader/i.test(p.description) ? ' (a software renderer: slow)' : '';
      state.gpu = p;
      setNotice(ui.gpu, `WebGPU: ${p.description}${sw}. shader-f16 ${p.shaderF16 ? 'is available' :
        'is not available — the q4f32_1 build is used'}.`, p.shaderF16 ? 'ok' : 'warn');
      break;
    }
    case 'variant':
      state.variant = p;
      ui.progressBox.hidden = false;
      ui.progressText.textContent = `Loading the ${p.quantization ?? ''} build from ${p.url}…`;
      break;
    case 'download': {
      ui.progress.max = p.total || 1;
      ui.progress.value = p.loaded;
      const rate = p.rate > 0 ? `, ${mb(p.rate)}/s` : '';
      const cached = p.cached ? `, ${mb(p.cached)} from this browser's cache` : '';
      ui.progressText.textContent = `Downloading weights: ${mb(p.loaded)} of ${mb(p.total)}${rate} — ` +
        `${p.shardsDone} of ${p.shards} shards${cached}`;
      break;
    }
    case 'ready':
      ui.progress.max = 1;
      ui.progress.value = 1;
      state.weightsText = ui.progressText.textContent = p.bytesDownloaded === 0
        ? `Weights loaded from this browser's cache (${mb(p.bytesTotal)}, checked: ${p.verified}) — works offline.`
        : `Weights downloaded (${mb(p.bytesTotal)}, checked: ${p.verified}) in ${p.seconds.toFixed(1)} s` +
          `${p.cached ? ' and kept for offline use' : ''}.`;
      break;
    case 'warning':
      setNotice(ui.notice, p.message, 'warn');
      break;
    case 'compile':
      ui.progressText.textContent = `${state.weightsText ?? ''} ` +
        (p.done < p.total ? `Preparing GPU kernels: ${p.done} of ${p.total}…` : `${p.total} GPU kernels ready.`);
      break;
    case 'error':
      setNotice(ui.notice, p.error.message, 'error');
      break;
    default:
  }
}

const worker = new Worker(new URL('./worker.mjs', import.meta.url), { type: 'module' });
const engine = new WebWorkerEngine(worker, { initProgressCallback: onProgress });

async function load(variants) {
  if (state.busy) engine.interruptGenerate();
  const mine = ++state.loadSeq;  // a newer load() supersedes this one (the engine cancels the older)
  state.loaded = false;
  state.history = [];
  ui.messages.replaceChildren();
  delete document.body.dataset.state;
  updateButtons();
  setNotice(ui.notice, '', '');
  let r = null, error = null;
  try {
    r = await engine.reload(variants.map((v) => ({ ...v, url: new URL(v.url, location.href).href })));
  } catch (e) {
    error = e;
  }
  if (mine !== state.loadSeq) return;
  state.loaded = !!r;
  if (r) {
    document.title = `slm chat — ${r.modelId}`;
    if (r.modelError) setNotice(ui.notice, r.modelError, 'error');
    else if (!r.warnings.length) setNotice(ui.notice, `Ready: ${r.modelId} on ${r.gpu}.`, 'ok');
  } else {
    const gpuProblem = ['no-webgpu', 'no-adapter', 'no-f16'].includes(error.code);
    setNotice(gpuProblem ? ui.gpu : ui.notice, error.message, 'error');
    ui.progressBox.hidden = !state.variant || gpuProblem;
  }
  document.body.dataset.state = state.loaded ? 'loaded' : 'failed';
  updateButtons();
}

async function modelList() {
  const q = new URLSearchParams(location.search).get('model');
  if (q) return [{ id: 'url', name: 'from the address bar', variants: q.split(',').map((url) => ({ url })) }];
  try {
    const res = await fetch('models.json', { cache: 'no-cache' });
    if (res.ok) {
      const list = (await res.json()).models ?? [];
      if (list.length) return list;
    }
  } catch { /* offline or absent: the page's own folder */ }
  return [{ id: 'here', name: 'this folder', variants: [{ url: './' }] }];
}

function variantsFromText(text) {
  return text.split(/[\s,]+/).filter(Boolean).map((url) => ({ url }));
}

// ---- wiring -----------------------------------------------------------------------------------------------

ui.composer.addEventListener('submit', (e) => { e.preventDefault(); send(); });
ui.input.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    send();
  }
});
ui.stop.addEventListener('click', () => engine.interruptGenerate());
ui.newChat.addEventListener('click', async () => {
  if (state.busy) engine.interruptGenerate();
  state.history = [];
  ui.messages.replaceChildren();
  if (state.loaded) await engine.resetChat();
});
ui.select.addEventListener('change', () => {
  const m = state.models[ui.select.selectedIndex];
  ui.url.value = m.variants.map((v) => v.url).join(' ');
  load(m.variants);
});
ui.modelForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const variants = variantsFromText(ui.url.value);
  if (variants.length) load(variants);
});

if (new URLSearchParams(location.search).has('testhooks')) {
  // For tests/browser/test_page.mjs: feed text through the same path as a streamed answer.
  window.__slmTest = {
    renderAnswer(pieces) {
      const b = addMessage('assistant');
      for (const p of pieces) appendText(b, p);
      return b.box;
    },
    // A whole (non-streamed) completion through the same engine: {text, finish, tokens}.
    async complete(req) {
      const r = await engine.chat.completions.create({ ...req, stream: false });
      return { text: r.choices[0].message.content, finish: r.choices[0].finish_reason, tokens: r.usage.completion_tokens };
    },
    setMaxTokens(n) { state.maxTokens = n; },
    state,
    progress: [],  // every progress event the worker sent
  };
}

if ('serviceWorker' in navigator && isSecureContext)
  navigator.serviceWorker.register('./sw.js').catch((e) => console.warn('[page] no offline page:', e.message));

if (!navigator.gpu) setNotice(ui.gpu, 'Checking WebGPU in the worker…', 'info');
state.models = await modelList();
for (const m of state.models) ui.select.append(new Option(m.name ?? m.id));
ui.url.value = state.models[0].variants.map((v) => v.url).join(' ');
updateButtons();
await load(state.models[0].variants);
