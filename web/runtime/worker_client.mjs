// The page's handle on the engine in web/worker.mjs, with WebLLM's WebWorkerMLCEngine surface:
//   const engine = await CreateWebWorkerEngine(new Worker('worker.mjs', {type: 'module'}), variants,
//                                              {initProgressCallback});
//   for await (const c of await engine.chat.completions.create({messages, stream: true})) …
//   engine.interruptGenerate(); await engine.resetChat(); await engine.runtimeStatsText();
// Errors thrown in the worker come back as Error objects with the worker's name, code and message.

export class WorkerEngineError extends Error {
  constructor({ name, code, message }) {
    super(message);
    this.name = name;
    this.code = code;
  }
}

export class WebWorkerEngine {
  constructor(worker, { initProgressCallback } = {}) {
    this.worker = worker;
    this.onProgress = initProgressCallback ?? (() => {});
    this.pending = new Map();  // id -> {resolve, reject, stream?}
    this.nextId = 1;
    this.chat = { completions: { create: (request) => this.create(request) } };
    worker.addEventListener('message', ({ data }) => this.receive(data));
    worker.addEventListener('error', (e) => {
      const err = new WorkerEngineError({ name: 'WorkerError', code: 'worker',
        message: `[worker] the engine's worker failed to start or crashed: ${e.message ?? 'unknown error'} ` +
                 '(a missing runtime file? check the browser console)' });
      this.onProgress({ phase: 'error', error: err });
      for (const p of this.pending.values()) (p.stream ? p.stream.fail(err) : p.reject(err));
      this.pending.clear();
    });
  }

  receive(m) {
    if (m.type === 'progress') return this.onProgress(m.progress);
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.type === 'error') {
      const err = new WorkerEngineError(m.error);
      this.pending.delete(m.id);
      return p.stream?.started ? p.stream.fail(err) : p.reject(err);
    }
    if (m.type === 'result') {
      if (p.stream && m.value === 'stream') {
        p.stream.started = true;
        return p.resolve(p.stream.iterable);
      }
      this.pending.delete(m.id);
      return p.resolve(m.value);
    }
    if (m.type === 'chunk') return p.stream.push(m.chunk);
    if (m.type === 'end') {
      this.pending.delete(m.id);
      return p.stream.end();
    }
  }

  call(type, fields = {}, stream = null) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, stream });
      this.worker.postMessage({ id, type, ...fields });
    });
  }

  reload(variants) { return this.call('reload', { variants }); }

  create(request) {
    if (!request?.stream) return this.call('chat', { request });
    return this.call('chat', { request }, makeStream());
  }

  interruptGenerate() { this.worker.postMessage({ type: 'interrupt' }); }
  resetChat() { return this.call('reset'); }
  runtimeStatsText() { return this.call('stats'); }
  unload() { return this.call('unload'); }
}

// A queue that the worker's chunks fill and a for-await loop drains.
function makeStream() {
  const items = [];
  let waiting = null, finished = false, error = null;
  const wake = () => { if (waiting) { const w = waiting; waiting = null; w(); } };
  return {
    started: false,
    push(c) { items.push(c); wake(); },
    end() { finished = true; wake(); },
    fail(e) { error = e; finished = true; wake(); },
    iterable: {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          if (items.length) { yield items.shift(); continue; }
          if (error) throw error;
          if (finished) return;
          await new Promise((r) => { waiting = r; });
        }
      },
    },
  };
}

export async function CreateWebWorkerEngine(worker, variants, options = {}) {
  const engine = new WebWorkerEngine(worker, options);
  await engine.reload(variants);
  return engine;
}
