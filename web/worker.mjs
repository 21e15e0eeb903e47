// The Web Worker that owns the engine (runtime/engine.mjs): downloads, tokenisation, the GPU work and the
// generation loop all run here, so the page stays responsive. Speaks the small message protocol of
// runtime/worker_client.mjs; start it with new Worker('worker.mjs', {type: 'module'}).
//   page -> worker  {id, type: 'reload', variants} | {id, type: 'chat', request} | {type: 'interrupt'}
//                   | {id, type: 'reset'} | {id, type: 'stats'} | {id, type: 'unload'}
//   worker -> page  {type: 'progress', progress} | {id, type: 'result', value} | {id, type: 'chunk', chunk}
//                   | {id, type: 'end'} | {id, type: 'error', error: {name, code, message}}

import { Engine } from './runtime/engine.mjs';

const engine = new Engine({ onProgress: (progress) => postMessage({ type: 'progress', progress }) });

const errorOf = (e) => ({ name: e?.name ?? 'Error', code: e?.code ?? null, message: e?.message ?? String(e) });

async function handle(m) {
  switch (m.type) {
    case 'reload':
      return engine.reload(m.variants);
    case 'chat': {
      const r = await engine.chat.completions.create(m.request);
      if (!m.request?.stream) return r;
      postMessage({ id: m.id, type: 'result', value: 'stream' });  // validated and started
      for await (const c of r) postMessage({ id: m.id, type: 'chunk', chunk: c });
      postMessage({ id: m.id, type: 'end' });
      return undefined;
    }
    case 'interrupt':
      return engine.interruptGenerate();
    case 'reset':
      return engine.resetChat();
    case 'stats':
      return engine.runtimeStatsText();
    case 'unload':
      return engine.unload();
    default:
      throw new Error(`[worker] unknown message type '${m.type}'`);
  }
}

self.onmessage = async ({ data: m }) => {
  try {
    const value = await handle(m);
    if (m.id != null && !(m.type === 'chat' && m.request?.stream)) postMessage({ id: m.id, type: 'result', value });
  } catch (e) {
    if (m.id != null) postMessage({ id: m.id, type: 'error', error: errorOf(e) });
  }
};
