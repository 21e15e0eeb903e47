// Generates the Unicode tables of web/wasm/unicode_tables.cpp from the Unicode Character Database that
// Debian's `unicode-data` package installs (/usr/share/unicode, Unicode 15.0 in bookworm — the version ICU 72,
// the native backend, implements). Run at build time by web/wasm/CMakeLists.txt; the output is a C++ include
// file, never committed.
//   node gen_unicode_tables.mjs UCD_DIR OUT.inc
// Tables: canonical combining classes, one-level decomposition mappings (canonical and compatibility;
// unicode_tables.cpp applies them recursively), primary composites (pairs not in Full_Composition_Exclusion),
// the characters that combine with a preceding one, the \w set of the Rust regex crate (Alphabetic,
// Join_Control, Mn, Me, Mc, Nd, Pc) and the context-free full lowercase mapping (UnicodeData + the
// unconditional SpecialCasing entries). Not a general UCD compiler: only what the tokenizer needs.
import fs from 'node:fs';
import path from 'node:path';

const [ucd, outPath] = process.argv.slice(2);
if (!ucd || !outPath) {
  console.error('usage: node gen_unicode_tables.mjs UCD_DIR OUT.inc');
  process.exit(2);
}
const read = (name) => {
  const p = path.join(ucd, name);
  if (!fs.existsSync(p)) {
    console.error(`[gen_unicode_tables] ${p} is missing — install Debian's unicode-data (tools/install_deps)`);
    process.exit(1);
  }
  return fs.readFileSync(p, 'utf8');
};
const hex = (s) => parseInt(s, 16);
// Data lines of a UCD file as arrays of trimmed fields (comments and blank lines dropped).
const records = (text) =>
  text.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter((l) => l).map((l) => l.split(';').map((f) => f.trim()));
// "0041..005A" or "00AA" -> [lo, hi]
const range = (f) => {
  const [a, b] = f.split('..');
  return [hex(a), hex(b ?? a)];
};

// --- UnicodeData.txt: general category, ccc, decomposition, simple lowercase ---
const gc = new Map(), ccc = new Map(), decomp = new Map(), lower = new Map();
let version = '';
{
  let first = null;
  for (const f of records(read('UnicodeData.txt'))) {
    const cp = hex(f[0]);
    if (f[1].endsWith(', First>')) { first = cp; continue; }
    const lo = f[1].endsWith(', Last>') ? first : cp;
    for (let c = lo; c <= cp; ++c) gc.set(c, f[2]);
    if (+f[3]) ccc.set(cp, +f[3]);
    if (f[5]) {
      const parts = f[5].split(' ');
      const compat = parts[0].startsWith('<');
      decomp.set(cp, { compat, seq: (compat ? parts.slice(1) : parts).map(hex) });
    }
    if (f[13]) lower.set(cp, [hex(f[13])]);
  }
  const m = read('ReadMe.txt').match(/Version (\d+\.\d+\.\d+)/) ?? read('DerivedAge.txt').match(/DerivedAge-(\d+\.\d+\.\d+)/);
  version = m ? m[1] : 'unknown';
}

// --- SpecialCasing.txt: unconditional full lowercase mappings override the simple ones ---
for (const f of records(read('SpecialCasing.txt'))) {
  if (f.length >= 5 && f[4] !== '') continue;  // conditional (Final_Sigma, language-specific)
  const cp = hex(f[0]);
  const seq = f[1] ? f[1].split(' ').map(hex) : [];
  if (seq.length === 1 && seq[0] === cp) lower.delete(cp);
  else lower.set(cp, seq);
}

// --- Composition: primary composites = canonical pairs minus Full_Composition_Exclusion ---
const exclusions = new Set();
for (const f of records(read('CompositionExclusions.txt'))) {
  const [lo, hi] = range(f[0]);
  for (let c = lo; c <= hi; ++c) exclusions.add(c);
}
const fullExclusion = new Set(exclusions);
for (const [cp, d] of decomp) {
  if (d.compat) continue;
  if (d.seq.length === 1) fullExclusion.add(cp);                   // singletons
  else if (ccc.get(cp) || ccc.get(d.seq[0])) fullExclusion.add(cp);  // non-starter decompositions
}
// Cross-check the derivation against the UCD's own Full_Composition_Exclusion.
{
  const derived = new Set();
  for (const f of records(read('DerivedNormalizationProps.txt'))) {
    if (f[1] !== 'Full_Composition_Exclusion') continue;
    const [lo, hi] = range(f[0]);
    for (let c = lo; c <= hi; ++c) derived.add(c);
  }
  const same = derived.size === fullExclusion.size && [...derived].every((c) => fullExclusion.has(c));
  if (!same) {
    console.error('[gen_unicode_tables] Full_Composition_Exclusion derived from UnicodeData.txt + ' +
                  'CompositionExclusions.txt differs from DerivedNormalizationProps.txt — the UCD files disagree');
    process.exit(1);
  }
}
const pairs = [];
for (const [cp, d] of decomp) {
  if (d.compat || d.seq.length !== 2 || fullExclusion.has(cp)) continue;
  pairs.push([d.seq[0], d.seq[1], cp]);
}
pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
const combinesBack = [...new Set(pairs.map((p) => p[1]))].sort((a, b) => a - b);

// --- \w of the regex crate: Alphabetic | Join_Control | Mn | Me | Mc | Nd | Pc ---
const word = new Set();
const addProp = (text, name) => {
  for (const f of records(text)) {
    if (f[1] !== name) continue;
    const [lo, hi] = range(f[0]);
    for (let c = lo; c <= hi; ++c) word.add(c);
  }
};
addProp(read('DerivedCoreProperties.txt'), 'Alphabetic');
addProp(read('PropList.txt'), 'Join_Control');
for (const [cp, cat] of gc) if (['Mn', 'Me', 'Mc', 'Nd', 'Pc'].includes(cat)) word.add(cp);

// --- emit ---
const toRanges = (sortedCps, valueOf = () => 0) => {
  const out = [];
  for (const c of sortedCps) {
    const v = valueOf(c);
    const last = out[out.length - 1];
    if (last && last[1] === c - 1 && last[2] === v) last[1] = c;
    else out.push([c, c, v]);
  }
  return out;
};
const x = (c) => '0x' + c.toString(16).toUpperCase();
const lines = [];
const emit = (decl, items, perLine = 6) => {
  lines.push(`${decl} = {`);
  for (let i = 0; i < items.length; i += perLine) lines.push('    ' + items.slice(i, i + perLine).join(', ') + ',');
  lines.push('};');
};
lines.push(`// Generated by web/wasm/gen_unicode_tables.mjs from the Unicode ${version} UCD — do not edit.`);
lines.push(`constexpr const char* kUnicodeVersion = "${version}";`);

const cccRanges = toRanges([...ccc.keys()].sort((a, b) => a - b), (c) => ccc.get(c));
emit('constexpr CccRange kCcc[]', cccRanges.map(([lo, hi, v]) => `{${x(lo)}, ${x(hi)}, ${v}}`), 4);

const pool = [];
const decompEntries = [...decomp.keys()].sort((a, b) => a - b).map((cp) => {
  const d = decomp.get(cp);
  const off = pool.length;
  pool.push(...d.seq);
  if (d.seq.length > 31 || off > 0xFFFFFF) throw new Error('decomposition table overflow');
  return `{${x(cp)}, ${(off << 8) | (d.compat ? 0x80 : 0) | d.seq.length}}`;
});
emit('constexpr Decomposition kDecompositions[]', decompEntries, 4);
emit('constexpr char32_t kDecompositionPool[]', pool.map(x), 8);
emit('constexpr Composite kComposites[]', pairs.map(([a, b, c]) => `{${x(a)}, ${x(b)}, ${x(c)}}`), 4);
emit('constexpr char32_t kCombinesBack[]', combinesBack.map(x), 8);
const wordRanges = toRanges([...word].sort((a, b) => a - b));
emit('constexpr Range kWordChars[]', wordRanges.map(([lo, hi]) => `{${x(lo)}, ${x(hi)}}`), 6);
const lowerEntries = [...lower.keys()].sort((a, b) => a - b).map((cp) => {
  const s = lower.get(cp);
  if (s.length > 3) throw new Error('lowercase mapping longer than 3');
  return `{${x(cp)}, {${[...s, 0, 0, 0].slice(0, 3).map(x).join(', ')}}}`;
});
emit('constexpr LowerMapping kLowercase[]', lowerEntries, 3);

fs.mkdirSync(path.dirname(outPath), { recursive: true });
fs.writeFileSync(outPath, lines.join('\n') + '\n');
console.log(`[gen_unicode_tables] Unicode ${version}: ${cccRanges.length} ccc ranges, ${decomp.size} decompositions ` +
            `(${pool.length} code points), ${pairs.length} composites, ${wordRanges.length} \\w ranges, ` +
            `${lower.size} lowercase mappings -> ${outPath}`);
