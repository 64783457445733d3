// GenderLens: faces and their apparent gender, found in the browser by a worker pool.
//   const lens = await GenderLens.create();
//   const { faces } = await lens.analyze(file);
// Types and every option: index.d.ts. The pool: pool.js; one worker: worker.js.
import { WorkerPool } from './pool.js';
import { toMessage } from './sources.js';
import { GenderLensError, abortedError } from './errors.js';
import { VERSION } from './version.js';

export { GenderLensError } from './errors.js';

/** Most workers a pool starts by default: each holds its own copy of the module's memory
 *  (the model and a photo's buffers), and past four the photos of a drop rarely wait. */
export const MAX_DEFAULT_WORKERS = 4;

/** The default pool size: one worker per logical core the browser reports (Safari rounds
 *  to 4 or 8), at most MAX_DEFAULT_WORKERS; 2 where it reports none. The caller's thread
 *  only posts messages, so it needs no core of its own. */
export function defaultWorkers() {
  const cores = Number(globalThis.navigator?.hardwareConcurrency) || 2;
  return Math.max(1, Math.min(MAX_DEFAULT_WORKERS, cores));
}

/** Compiled once for every worker: a worker instantiates it without compiling again. */
async function compile(url) {
  const failed = (e) => new GenderLensError('model', `Could not load the model from ${url}: ${e && e.message ? e.message : e}`);
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw failed(e);
  }
  if (!response.ok) throw failed(new Error(`HTTP ${response.status}`));
  try {
    // Streaming needs the server to say application/wasm; otherwise compile the bytes.
    if (WebAssembly.compileStreaming && response.headers.get('Content-Type')?.startsWith('application/wasm')) {
      return await WebAssembly.compileStreaming(response);
    }
    return await WebAssembly.compile(await response.arrayBuffer());
  } catch (e) {
    throw failed(e);
  }
}

export class GenderLens {
  /** This build's identity: package version, classifier and detector weights. */
  static version = VERSION;

  #pool;

  constructor(pool) {
    this.#pool = pool;
  }

  /** A ready GenderLens: the module compiled and its first worker started. */
  static async create(options = {}) {
    if (typeof WebAssembly !== 'object') throw new GenderLensError('model', 'This browser does not support WebAssembly, which GenderLens needs.');
    if (typeof Worker !== 'function') throw new GenderLensError('model', 'GenderLens needs Web Workers, which this context lacks.');
    const workers = options.workers ?? defaultWorkers();
    if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`workers must be a positive whole number, not ${workers}`);
    const wasmUrl = options.wasmUrl ?? new URL('./wasm/genderlens_bg.wasm', import.meta.url);
    const module = await compile(wasmUrl);
    const pool = new WorkerPool({
      size: workers,
      workerUrl: options.workerUrl,
      module,
      warmUp: options.warmUp ?? true,
      idleTimeout: options.idleTimeout ?? 30_000,
    });
    await pool.ready;
    return new GenderLens(pool);
  }

  /** Most workers this instance runs at once. */
  get workers() {
    return this.#pool.size;
  }

  /** The faces in one image, in its own pixels. */
  async analyze(source, options = {}) {
    const { signal, ...perPhoto } = options;
    return this.#job('analyze', source, perPhoto, signal);
  }

  /** An image that is already a close crop of one face, classified as a whole. */
  async classifyFace(source, options = {}) {
    return this.#job('classify-face', source, {}, options.signal);
  }

  async #job(op, source, options, signal) {
    if (signal?.aborted) throw abortedError(signal);
    const t0 = performance.now();
    const { source: wire, transfer } = await toMessage(source);
    const result = await this.#pool.run({ op, source: wire, options }, transfer, signal);
    if (result.timings) result.timings.totalMs = performance.now() - t0;
    return result;
  }

  /** Each source's analysis as soon as it is ready (not in input order), as
   *  `{ index, source, result }` or `{ index, source, error }`: a bad photo never stops
   *  the others. Aborting `signal` ends the iteration with an 'aborted' error; leaving the
   *  loop early drops the photos not yet done. */
  async *analyzeMany(sources, options = {}) {
    const { onProgress, signal, ...perPhoto } = options;
    const inner = new AbortController();
    const stop = () => inner.abort(signal.reason);
    if (signal?.aborted) throw abortedError(signal);
    signal?.addEventListener('abort', stop, { once: true });
    const total = Number.isInteger(sources?.length) ? sources.length : undefined;
    const iterator = sources?.[Symbol.asyncIterator]?.() ?? sources?.[Symbol.iterator]?.();
    if (!iterator) throw new TypeError('analyzeMany needs an iterable or async iterable of sources');
    // Enough photos in flight to keep every worker busy, few enough to bound memory.
    const limit = 2 * this.#pool.size;
    const running = new Map();
    let next = 0;
    let done = 0;
    let exhausted = false;
    try {
      for (;;) {
        while (!exhausted && running.size < limit && !inner.signal.aborted) {
          const item = await iterator.next();
          if (item.done) {
            exhausted = true;
            break;
          }
          const index = next++;
          const source = item.value;
          running.set(index, this.analyze(source, { ...perPhoto, signal: inner.signal }).then(
            (result) => ({ index, source, result }),
            (error) => ({ index, source, error: GenderLensError.from(error) }),
          ));
        }
        if (inner.signal.aborted) throw abortedError(signal);
        if (running.size === 0) return;
        const entry = await Promise.race(running.values());
        if (inner.signal.aborted) throw abortedError(signal);
        running.delete(entry.index);
        done += 1;
        onProgress?.({ done, total, index: entry.index });
        yield entry;
      }
    } finally {
      signal?.removeEventListener('abort', stop);
      inner.abort();
      await iterator.return?.();
    }
  }

  /** Stops every worker: a call under way or made after fails with code 'closed'. */
  close() {
    this.#pool.close();
  }
}
