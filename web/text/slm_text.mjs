// SlmText: slm's tokenizer and chat-template renderer in the browser (and in Node), the native C++ compiled
// to slm_text.wasm (web/wasm/, tools/build_wasm) — the same ids and prompt text as the native `slm`, not a
// second implementation. This file only loads the module, stubs its few WASI imports and moves strings and
// ids across the C ABI documented in docs/wasm.md.
//
//   import { SlmText } from './slm_text.mjs';
//   const text = await SlmText.load(tokenizerJsonText, tokenizerConfigJsonText);   // config optional
//   const ids = text.encode('Hello', { addSpecialTokens: true });                  // Int32Array
//   text.decode(ids, { skipSpecialTokens: true });
//   text.applyChatTemplate([{ role: 'user', content: 'Hi' }], { addGenerationPrompt: true, enable_thinking: false });
//   const s = text.streamDecoder({ skipSpecialTokens: true }); s.push(id) ... s.finish(); s.free();
//
// The .wasm is found beside this file (new URL('./slm_text.wasm', import.meta.url)) unless options.wasm
// names it: a URL or path string, a URL, bytes (ArrayBuffer / typed array) or a WebAssembly.Module.
// Errors are SlmTextError: message as the native slm::Error; for template errors also kind ('syntax',
// 'unsupported', 'runtime', 'raised'), detail (for 'raised': the template's raise_exception text), line, column.

export class SlmTextError extends Error {
  constructor(message, { kind = null, detail = message, line = 0, column = 0 } = {}) {
    super(message);
    this.name = 'SlmTextError';
    this.kind = kind;
    this.detail = detail;
    this.line = line;
    this.column = column;
  }
}

const ERROR_KINDS = [null, 'syntax', 'unsupported', 'runtime', 'raised'];
const isNode = typeof process !== 'undefined' && !!process.versions?.node;
const moduleCache = new Map();  // source key -> Promise<WebAssembly.Module>

async function wasmBytesFromUrl(url) {
  if (url.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
    try {
      return await readFile(url);
    } catch (e) {
      throw new SlmTextError(`[slm_text] cannot read ${url.pathname}: ${e.message} — build it with tools/build_wasm ` +
                             '(or pass options.wasm)');
    }
  }
  const res = await fetch(url);
  if (!res.ok) throw new SlmTextError(`[slm_text] fetching ${url} failed: HTTP ${res.status}`);
  return res.arrayBuffer();
}

function compileModule(source) {
  if (source instanceof WebAssembly.Module) return Promise.resolve(source);
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return WebAssembly.compile(source);
  let url = source ?? new URL('./slm_text.wasm', import.meta.url);
  if (typeof url === 'string') {
    const hasScheme = /^[a-z][a-z0-9+.-]*:/i.test(url);
    if (isNode && !hasScheme) {
      url = new URL('file://' + (url.startsWith('/') ? url : `${process.cwd()}/${url}`));
    } else {
      url = new URL(url, globalThis.document?.baseURI ?? import.meta.url);
    }
  }
  const key = url.href;
  if (!moduleCache.has(key)) {
    const p = wasmBytesFromUrl(url).then((bytes) => WebAssembly.compile(bytes));
    p.catch(() => moduleCache.delete(key));
    moduleCache.set(key, p);
  }
  return moduleCache.get(key);
}

// The module's imports: a handful of WASI calls and emscripten's memory-growth hook. Files, environment
// and the process are absent in a page; anything unexpected answers ENOSYS.
function makeImports(module, getMemory) {
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  const wasi = {
    clock_time_get(_id, _precision, outPtr) {
      new DataView(getMemory().buffer).setBigUint64(outPtr, BigInt(Date.now()) * 1000000n, true);
      return 0;
    },
    environ_sizes_get(countPtr, sizePtr) {
      const dv = new DataView(getMemory().buffer);
      dv.setUint32(countPtr, 0, true);
      dv.setUint32(sizePtr, 0, true);
      return 0;
    },
    environ_get: () => 0,
    fd_write(fd, iovs, iovsLen, nwrittenPtr) {
      const dv = new DataView(getMemory().buffer);
      let text = '', n = 0;
      for (let i = 0; i < iovsLen; ++i) {
        const ptr = dv.getUint32(iovs + 8 * i, true), len = dv.getUint32(iovs + 8 * i + 4, true);
        text += decoder.decode(new Uint8Array(getMemory().buffer, ptr, len));
        n += len;
      }
      if (text.trim()) console.error(`[slm_text.wasm fd ${fd}] ${text.trimEnd()}`);
      dv.setUint32(nwrittenPtr, n, true);
      return 0;
    },
    proc_exit(code) {
      throw new SlmTextError(`[slm_text] the wasm module aborted (exit code ${code})`);
    },
  };
  const imports = { wasi_snapshot_preview1: {}, env: {} };
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.kind !== 'function') continue;
    const table = (imports[imp.module] ??= {});
    if (imp.module === 'wasi_snapshot_preview1') table[imp.name] = wasi[imp.name] ?? (() => 52 /* ENOSYS */);
    else table[imp.name] = () => 0;  // env.emscripten_notify_memory_growth: views are re-made on every access
  }
  return imports;
}

// One instance of slm_text.wasm: memory helpers and the calling convention of slm_text_api.cpp.
class Runtime {
  constructor(instance) {
    this.x = instance.exports;
    this.broken = null;
    this.x._initialize?.();
    this.scratch = this.x.slm_text_alloc(8);  // the size_t out-parameter of every call
    this.encoder = new TextEncoder();
    this.decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  }
  u8() { return new Uint8Array(this.x.memory.buffer); }
  cstring(ptr) {
    const mem = this.u8();
    let end = ptr;
    while (mem[end]) ++end;
    return this.decoder.decode(mem.subarray(ptr, end));
  }
  // Calls an export; a trap (out of memory, a bug) leaves the instance unusable, which we then say.
  call(name, ...args) {
    if (this.broken) throw new SlmTextError(`[slm_text] this instance stopped after an earlier failure ` +
                                            `(${this.broken}); load the tokenizer again`);
    try {
      return this.x[name](...args);
    } catch (e) {
      this.broken = e.message;
      throw e instanceof SlmTextError ? e : new SlmTextError(`[slm_text] ${name} failed inside wasm: ${e.message}`);
    }
  }
  lastError() {
    const kind = ERROR_KINDS[this.x.slm_text_last_error_kind()] ?? null;
    return new SlmTextError(this.cstring(this.x.slm_text_last_error()), {
      kind,
      detail: this.cstring(this.x.slm_text_last_error_detail()),
      line: this.x.slm_text_last_error_line(),
      column: this.x.slm_text_last_error_column(),
    });
  }
  // Copies bytes (a string is UTF-8 encoded) into the wasm heap; returns [ptr, len]; free ptr after.
  put(data) {
    const bytes = typeof data === 'string' ? this.encoder.encode(data) : data;
    const ptr = this.x.slm_text_alloc(bytes.length);
    if (!ptr) throw new SlmTextError('[slm_text] out of wasm memory');
    this.u8().set(bytes, ptr);
    return [ptr, bytes.length];
  }
  outLen() { return new DataView(this.x.memory.buffer).getUint32(this.scratch, true); }
  // A malloc'd (ptr, *scratch) string result -> JS string, freed; null ptr -> the last error.
  takeString(ptr) {
    if (!ptr) throw this.lastError();
    const s = this.decoder.decode(this.u8().subarray(ptr, ptr + this.outLen()));
    this.x.slm_text_free(ptr);
    return s;
  }
  // Runs fn(ptr, len) with data copied in, freeing it afterwards.
  withBytes(data, fn) {
    const [ptr, len] = this.put(data);
    try {
      return fn(ptr, len);
    } finally {
      this.x.slm_text_free(ptr);
    }
  }
}

const finalizer = typeof FinalizationRegistry === 'function'
  ? new FinalizationRegistry(({ rt, fn, handle }) => { if (!rt.broken) rt.x[fn](handle); })
  : null;

export class StreamDecoder {
  constructor(rt, tokHandle, skipSpecialTokens) {
    this.rt = rt;
    this.handle = rt.call('slm_text_stream_create', tokHandle, skipSpecialTokens ? 1 : 0);
    if (!this.handle) throw rt.lastError();
    finalizer?.register(this, { rt, fn: 'slm_text_stream_destroy', handle: this.handle }, this);
  }
  // The text that `id` completes (never half a UTF-8 character; often '').
  push(id) {
    this.check();
    return this.rt.takeString(this.rt.call('slm_text_stream_push', this.handle, id, this.rt.scratch));
  }
  // The rest of the text (an unfinished character as U+FFFD).
  finish() {
    this.check();
    return this.rt.takeString(this.rt.call('slm_text_stream_finish', this.handle, this.rt.scratch));
  }
  free() {
    if (!this.handle) return;
    finalizer?.unregister(this);
    if (!this.rt.broken) this.rt.x.slm_text_stream_destroy(this.handle);
    this.handle = 0;
  }
  check() { if (!this.handle) throw new SlmTextError('[slm_text] this stream decoder was freed'); }
}

export class SlmText {
  // tokenizerJsonText: tokenizer.json (string or UTF-8 bytes); tokenizerConfigJsonText: tokenizer_config.json
  // (its chat_template and special tokens), optional. A template that does not load is reported by
  // applyChatTemplate, so tokenisation still works. options.wasm: where slm_text.wasm is (see above).
  static async load(tokenizerJsonText, tokenizerConfigJsonText = null, options = {}) {
    const module = await compileModule(options.wasm);
    let memory = null;
    const instance = await WebAssembly.instantiate(module, makeImports(module, () => memory));
    memory = instance.exports.memory;
    const rt = new Runtime(instance);
    const tok = rt.withBytes(tokenizerJsonText, (p, n) => rt.call('slm_text_tokenizer_create', p, n));
    if (!tok) throw rt.lastError();
    let tpl = 0, tplError = null;
    if (tokenizerConfigJsonText != null) {
      tpl = rt.withBytes(tokenizerConfigJsonText, (p, n) => rt.call('slm_text_template_create', p, n));
      if (!tpl) tplError = rt.lastError();
    } else {
      tplError = new SlmTextError('[slm_text] no tokenizer_config.json was given to SlmText.load, so there is no ' +
                                  'chat template — pass its text as the second argument');
    }
    return new SlmText(rt, tok, tpl, tplError);
  }

  constructor(rt, tok, tpl, tplError) {
    this.rt = rt;
    this.tok = tok;
    this.tpl = tpl;
    this.templateError = tplError;
  }

  get hasChatTemplate() { return !!this.tpl; }
  get vocabSize() { return Number(this.rt.call('slm_text_vocab_size', this.tok)); }

  // text: a string or UTF-8 bytes (invalid bytes are replaced by U+FFFD first, as natively). -> Int32Array
  encode(text, { addSpecialTokens = true } = {}) {
    const rt = this.rt;
    const ptr = rt.withBytes(text, (p, n) =>
      rt.call('slm_text_encode', this.tok, p, n, addSpecialTokens ? 1 : 0, rt.scratch));
    if (!ptr) throw rt.lastError();
    const ids = new Int32Array(rt.x.memory.buffer, ptr, rt.outLen()).slice();
    rt.x.slm_text_free(ptr);
    return ids;
  }

  decode(ids, { skipSpecialTokens = false } = {}) {
    const rt = this.rt;
    const arr = Int32Array.from(ids);
    return rt.takeString(rt.withBytes(new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength), (p) =>
      rt.call('slm_text_decode', this.tok, p, arr.length, skipSpecialTokens ? 1 : 0, rt.scratch)));
  }

  streamDecoder({ skipSpecialTokens = false } = {}) { return new StreamDecoder(this.rt, this.tok, skipSpecialTokens); }

  tokenToId(token) {
    const id = this.rt.withBytes(token, (p, n) => this.rt.call('slm_text_token_to_id', this.tok, p, n));
    return id < 0 ? null : id;
  }
  idToToken(id) { return this.rt.takeString(this.rt.call('slm_text_id_to_token', this.tok, id, this.rt.scratch)); }
  isSpecial(id) { return this.rt.call('slm_text_is_special', this.tok, id) === 1; }

  // messages: [{role, content, ...}] as transformers takes them. Options: addGenerationPrompt, now (a Date
  // for strftime_now; default: the current local time), and every other key is a template variable
  // (tools, enable_thinking, date_string, ...), as apply_chat_template's kwargs.
  applyChatTemplate(messages, { addGenerationPrompt = false, now = new Date(), ...variables } = {}) {
    if (!this.tpl) throw this.templateError;
    const rt = this.rt;
    const nowPtr = rt.x.slm_text_alloc(32);
    try {
      const start = new Date(now.getFullYear(), 0, 1);
      const yday = Math.round((new Date(now.getFullYear(), now.getMonth(), now.getDate()) - start) / 86400000);
      new Int32Array(rt.x.memory.buffer, nowPtr, 8).set([now.getFullYear(), now.getMonth(), now.getDate(),
        now.getHours(), now.getMinutes(), now.getSeconds(), now.getDay(), yday]);
      const extra = Object.keys(variables).length ? JSON.stringify(variables) : '';
      return rt.takeString(rt.withBytes(JSON.stringify(messages), (mp, mn) => rt.withBytes(extra, (ep, en) =>
        rt.call('slm_text_render_chat', this.tpl, mp, mn, addGenerationPrompt ? 1 : 0, ep, en, nowPtr, rt.scratch))));
    } finally {
      rt.x.slm_text_free(nowPtr);
    }
  }

  // Releases the tokenizer and template (the instance's memory goes with this object).
  dispose() {
    if (this.rt.broken) return;
    if (this.tok) this.rt.x.slm_text_tokenizer_destroy(this.tok);
    if (this.tpl) this.rt.x.slm_text_template_destroy(this.tpl);
    this.tok = this.tpl = 0;
  }

  // Test hooks on the wasm build's Unicode tables (web/wasm/unicode_tables.cpp): form 'NFC' | 'NFD' |
  // 'NFKC' | 'NFKD'; the regex-crate \w test; the context-free lowercase of one code point.
  normalize(form, text) {
    const f = ['NFC', 'NFD', 'NFKC', 'NFKD'].indexOf(form);
    if (f < 0) throw new SlmTextError(`[slm_text] unknown normal form '${form}'`);
    return this.rt.takeString(this.rt.withBytes(text, (p, n) => this.rt.call('slm_text_normalize', f, p, n, this.rt.scratch)));
  }
  isWordChar(cp) { return this.rt.call('slm_text_is_word_char', cp) === 1; }
  lowercaseChar(cp) { return this.rt.takeString(this.rt.call('slm_text_lowercase', cp, this.rt.scratch)); }
}

export default SlmText;
