// MD5 (RFC 1321) in plain JS, incremental, for checking downloaded shards against the `md5sum` that
// tensor-cache.json carries per shard (TVM's dump_tensor_cache writes it; WebLLM never checks it).
// SubtleCrypto has no MD5, hence this. Not for security: MD5 only catches truncated or corrupted
// downloads and stale shards, which is all a same-origin artifact needs.
//
//   const h = new Md5(); h.update(bytes1); h.update(bytes2); h.hex()   // or md5Hex(bytes)

const S1 = [7, 12, 17, 22], S2 = [5, 9, 14, 20], S3 = [4, 11, 16, 23], S4 = [6, 10, 15, 21];
const K = new Int32Array(64);
for (let i = 0; i < 64; ++i) K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) | 0;

export class Md5 {
  constructor() {
    this.h = new Int32Array([0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476]);
    this.block = new Uint8Array(64);
    this.words = new Int32Array(16);
    this.fill = 0;      // bytes waiting in `block`
    this.length = 0;    // bytes hashed so far (a Number: exact below 2^53)
    this.done = false;
  }

  // bytes: Uint8Array (or any ArrayBufferView / ArrayBuffer).
  update(bytes) {
    if (this.done) throw new Error('[md5] update() after hex()');
    const b = bytes instanceof Uint8Array ? bytes
      : ArrayBuffer.isView(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
        : new Uint8Array(bytes);
    this.length += b.length;
    let i = 0;
    if (this.fill) {
      const n = Math.min(64 - this.fill, b.length);
      this.block.set(b.subarray(0, n), this.fill);
      this.fill += n;
      i = n;
      if (this.fill < 64) return this;
      this.compress(this.block, 0);
      this.fill = 0;
    }
    const whole = (b.length - i) & ~63;
    if (whole && (b.byteOffset + i) % 4 === 0) {  // aligned: read the words straight from the input
      const words = new Int32Array(b.buffer, b.byteOffset + i, whole / 4);
      for (let k = 0; k < words.length; k += 16) this.compressWords(words, k);
      i += whole;
    }
    for (; i + 64 <= b.length; i += 64) this.compress(b, i);
    if (i < b.length) {
      this.block.set(b.subarray(i), 0);
      this.fill = b.length - i;
    }
    return this;
  }

  // The digest as 32 lower-case hex digits; the object is finished afterwards.
  hex() {
    if (!this.done) {
      const bits = this.length * 8;
      const pad = new Uint8Array(((this.fill < 56 ? 56 : 120) - this.fill) + 8);
      pad[0] = 0x80;
      const dv = new DataView(pad.buffer);
      dv.setUint32(pad.length - 8, bits >>> 0, true);
      dv.setUint32(pad.length - 4, Math.floor(bits / 2 ** 32), true);
      this.update(pad);
      this.done = true;
    }
    let out = '';
    for (let i = 0; i < 4; ++i)
      for (let j = 0; j < 4; ++j) out += ((this.h[i] >>> (8 * j)) & 0xff).toString(16).padStart(2, '0');
    return out;
  }

  compress(b, off) {
    const w = this.words;
    for (let i = 0; i < 16; ++i, off += 4) w[i] = b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24);
    this.compressWords(w, 0);
  }

  // One 64-byte block from 16 little-endian words at w[o..o+16) (this runtime is little-endian, as
  // WebAssembly and every WebGPU browser are).
  compressWords(w, o) {
    const h = this.h;
    let a = h[0], bb = h[1], c = h[2], d = h[3], t = 0, x = 0;
    // Four rounds of 16 steps; each step rotates (a, b, c, d) -> (d, b + rotl(...), b, c).
    for (let i = 0; i < 16; ++i) {
      x = (a + ((bb & c) | (~bb & d)) + K[i] + w[o + i]) | 0;
      t = d; d = c; c = bb; bb = (bb + ((x << S1[i & 3]) | (x >>> (32 - S1[i & 3])))) | 0; a = t;
    }
    for (let i = 16; i < 32; ++i) {
      x = (a + ((d & bb) | (~d & c)) + K[i] + w[o + ((5 * i + 1) & 15)]) | 0;
      t = d; d = c; c = bb; bb = (bb + ((x << S2[i & 3]) | (x >>> (32 - S2[i & 3])))) | 0; a = t;
    }
    for (let i = 32; i < 48; ++i) {
      x = (a + (bb ^ c ^ d) + K[i] + w[o + ((3 * i + 5) & 15)]) | 0;
      t = d; d = c; c = bb; bb = (bb + ((x << S3[i & 3]) | (x >>> (32 - S3[i & 3])))) | 0; a = t;
    }
    for (let i = 48; i < 64; ++i) {
      x = (a + (c ^ (bb | ~d)) + K[i] + w[o + ((7 * i) & 15)]) | 0;
      t = d; d = c; c = bb; bb = (bb + ((x << S4[i & 3]) | (x >>> (32 - S4[i & 3])))) | 0; a = t;
    }
    h[0] = (h[0] + a) | 0;
    h[1] = (h[1] + bb) | 0;
    h[2] = (h[2] + c) | 0;
    h[3] = (h[3] + d) | 0;
  }
}

export function md5Hex(bytes) { return new Md5().update(bytes).hex(); }
