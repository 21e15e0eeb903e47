// The OpenAI chat-completions shapes WebLLM users know: request validation with defaults from
// mlc-chat-config.json, `chat.completion` and `chat.completion.chunk` objects, and the stop-string
// filter for streamed text. Pure functions, no GPU. Shapes follow OpenAI's API reference as WebLLM
// 0.2.86 returns them (openai_api_protocols/chat_completion.ts): finish_reason 'stop' | 'length' | 'abort'.

export class RequestError extends Error {
  constructor(message) {
    super(`[chat.completions.create] ${message}`);
    this.name = 'RequestError';
    this.code = 'invalid-request';
  }
}

const ROLES = new Set(['system', 'user', 'assistant', 'tool']);
const UNSUPPORTED = ['tools', 'tool_choice', 'response_format', 'logit_bias', 'logprobs', 'top_logprobs'];

// -> {messages, stream, sampling: {temperature, top_p, top_k, repetition_penalty, seed}, maxTokens, stop[],
//    includeUsage}. `config`: mlc-chat-config.json (its temperature, top_p, repetition_penalty defaults).
export function normalizeRequest(req, config = {}) {
  if (!req || typeof req !== 'object') throw new RequestError('expects an object {messages, …}');
  const { messages } = req;
  if (!Array.isArray(messages) || !messages.length) throw new RequestError('messages must be a non-empty array');
  for (const [i, m] of messages.entries()) {
    if (!m || !ROLES.has(m.role)) throw new RequestError(`messages[${i}].role must be one of ${[...ROLES].join(', ')}`);
    if (typeof m.content !== 'string') throw new RequestError(`messages[${i}].content must be a string`);
  }
  const last = messages[messages.length - 1].role;
  if (last !== 'user' && last !== 'tool') throw new RequestError(`the last message must be the user's, not '${last}'`);
  for (const k of UNSUPPORTED)
    if (req[k] != null && req[k] !== false) throw new RequestError(`'${k}' is not supported by this runtime`);
  if (req.n != null && req.n !== 1) throw new RequestError('n must be 1');
  for (const k of ['frequency_penalty', 'presence_penalty'])
    if (req[k] != null && req[k] !== 0) throw new RequestError(`${k} is not supported yet (use repetition_penalty)`);
  const num = (k, v, lo, hi) => {
    if (v == null) return undefined;
    if (typeof v !== 'number' || !(v >= lo && v <= hi)) throw new RequestError(`${k} must be a number in [${lo}, ${hi}]`);
    return v;
  };
  const sampling = {
    temperature: num('temperature', req.temperature, 0, 2) ?? config.temperature ?? 1,
    top_p: num('top_p', req.top_p, 0, 1) ?? config.top_p ?? 1,
    top_k: num('top_k', req.top_k, 0, 1e9) ?? 0,
    repetition_penalty: num('repetition_penalty', req.repetition_penalty, 0.01, 100) ?? config.repetition_penalty ?? 1,
    seed: num('seed', req.seed, -(2 ** 53), 2 ** 53) ?? Math.floor(Math.random() * 2 ** 32),
  };
  if (sampling.top_p === 0) sampling.top_p = 1e-9;
  const maxTokens = num('max_tokens', req.max_tokens, 1, 1e9);
  let stop = req.stop ?? [];
  if (typeof stop === 'string') stop = [stop];
  if (!Array.isArray(stop) || !stop.every((s) => typeof s === 'string' && s.length))
    throw new RequestError('stop must be a non-empty string or an array of them');
  return {
    messages: messages.map((m) => ({ role: m.role, content: m.content })),
    stream: !!req.stream,
    sampling,
    maxTokens: maxTokens === undefined ? Infinity : Math.floor(maxTokens),
    stop,
    includeUsage: !!req.stream_options?.include_usage,
  };
}

// Holds back streamed text that could still become a stop string; cuts at the first stop string.
export class StopFilter {
  constructor(stops) {
    this.stops = stops;
    this.pending = '';
    this.stopped = false;
  }

  // Returns the text safe to emit now.
  push(text) {
    if (this.stopped) return '';
    this.pending += text;
    let cut = -1;
    for (const s of this.stops) {
      const at = this.pending.indexOf(s);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.stopped = true;
      const out = this.pending.slice(0, cut);
      this.pending = '';
      return out;
    }
    let keep = 0;  // the longest tail of `pending` that is a proper prefix of a stop string
    for (const s of this.stops)
      for (let n = Math.min(s.length - 1, this.pending.length); n > keep; --n)
        if (this.pending.endsWith(s.slice(0, n))) { keep = n; break; }
    const out = this.pending.slice(0, this.pending.length - keep);
    this.pending = this.pending.slice(this.pending.length - keep);
    return out;
  }

  flush() {
    const out = this.stopped ? '' : this.pending;
    this.pending = '';
    return out;
  }
}

let counter = 0;
export const completionId = () => `chatcmpl-${Date.now().toString(36)}${(counter++).toString(36)}`;

export function chunk(id, model, created, delta, finishReason = null) {
  return {
    id, object: 'chat.completion.chunk', created, model,
    choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }],
  };
}

export function usage(promptTokens, completionTokens, stats) {
  return {
    prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens,
    extra: { prefill_tokens_per_s: stats.prefillTokPerS, decode_tokens_per_s: stats.decodeTokPerS,
             time_to_first_token_s: stats.ttftS },
  };
}

export function completion(id, model, created, content, finishReason, use) {
  return {
    id, object: 'chat.completion', created, model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: finishReason, logprobs: null }],
    usage: use,
  };
}
