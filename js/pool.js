// Workers that share one compiled module and take one job each at a time. The first worker
// starts at once and stays; more start while jobs wait for a free one, up to `size`, and go
// again after `idleTimeout` ms without work. A photo alone in the pool with two workers free
// is split between them (split.js). A worker that dies (an uncaught error, a trap
// in the module) is replaced; the job it held fails with code 'crashed' and no other job is
// lost or run twice.
import { GenderLensError, abortedError, closedError, fromWire } from './errors.js';
import { analyzeSplit, splittable } from './split.js';

/** Tries to start a worker that fails before it is ready, before giving up. */
const START_TRIES = 3;

export class WorkerPool {
  #size;
  #workerUrl;
  #module;
  #warmUp;
  #idleTimeout;
  #slots = [];
  #queue = [];
  #nextId = 1;
  #serial = 0;
  #failedStarts = 0;
  #closed = false;
  /** Set when workers cannot start at all: every job fails with it. */
  #fatal = null;

  constructor({ size, workerUrl, module, warmUp, idleTimeout }) {
    this.#size = size;
    this.#workerUrl = workerUrl;
    this.#module = module;
    this.#warmUp = warmUp;
    this.#idleTimeout = idleTimeout;
    /** Settles when the first worker is ready (its start-up time in ms) or cannot start. */
    this.ready = this.#startSlot().ready;
  }

  get size() {
    return this.#size;
  }

  /** The job's result; `signal` aborts it (a job already in a worker finishes there, its
   *  result dropped). */
  run(message, transfer = [], signal) {
    if (this.#closed) return Promise.reject(closedError());
    if (this.#fatal) return Promise.reject(this.#fatal);
    if (signal?.aborted) return Promise.reject(abortedError(signal));
    return new Promise((resolve, reject) => {
      const job = { id: this.#nextId++, message, transfer, resolve, reject, settled: false };
      job.settle = (ok, value) => {
        if (job.settled) return;
        job.settled = true;
        if (!ok) job.error = value;
        signal?.removeEventListener('abort', job.onAbort);
        (ok ? resolve : reject)(value);
      };
      job.onAbort = () => {
        const queued = this.#queue.indexOf(job);
        if (queued >= 0) this.#queue.splice(queued, 1);
        job.settle(false, abortedError(signal));
      };
      signal?.addEventListener('abort', job.onAbort, { once: true });
      this.#queue.push(job);
      this.#dispatch();
    });
  }

  close() {
    if (this.#closed) return;
    this.#closed = true;
    for (const slot of this.#slots) {
      slot.job?.settle(false, closedError()); // a photo under way fails too: no call waits forever
      this.#stop(slot);
    }
    this.#slots = [];
    for (const job of this.#queue.splice(0)) job.settle(false, closedError());
  }

  #startSlot() {
    const slot = { worker: null, job: null, isReady: false, idleTimer: 0, serial: this.#serial++ };
    slot.ready = new Promise((resolve, reject) => {
      slot.onReady = resolve;
      slot.onFail = reject;
    });
    slot.ready.catch(() => {});
    // Written out in full for bundlers (Vite, webpack), which find the worker by this shape.
    const worker = this.#workerUrl
      ? new Worker(this.#workerUrl, { type: 'module' })
      : new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    slot.worker = worker;
    worker.addEventListener('message', ({ data }) => this.#onMessage(slot, data));
    worker.addEventListener('error', (event) => {
      event.preventDefault?.();
      this.#onDeath(slot, event.message || 'the worker failed');
    });
    worker.addEventListener('messageerror', () => this.#onDeath(slot, 'a message could not be read'));
    worker.postMessage({ type: 'init', module: this.#module, warmUp: this.#warmUp && this.#queue.length === 0, serial: slot.serial });
    this.#slots.push(slot);
    return slot;
  }

  #onMessage(slot, data) {
    if (data.type === 'ready') {
      slot.isReady = true;
      this.#failedStarts = 0;
      slot.onReady(data.ms);
      this.#dispatch();
      return;
    }
    if (data.type === 'fatal') {
      this.#giveUp(fromWire(data.error));
      return;
    }
    if (data.type !== 'result' || slot.job?.id !== data.id) return;
    const job = slot.job;
    slot.job = null;
    if (data.ok) {
      if (job.settled) data.result.picture?.close();
      job.settle(true, data.result);
    } else {
      job.settle(false, fromWire(data.error));
    }
    if (data.fatal) this.#replace(slot);
    else this.#dispatch();
  }

  /** The worker is gone or unusable: its job fails, another takes its place. */
  #onDeath(slot, reason) {
    if (!this.#slots.includes(slot)) return;
    if (!slot.isReady && ++this.#failedStarts >= START_TRIES) {
      this.#giveUp(new GenderLensError('model', `Could not start the model: ${reason}`));
      return;
    }
    slot.job?.settle(false, new GenderLensError('crashed',
      `the worker stopped while analysing this photo (${reason}) and was restarted; other photos will work`));
    slot.job = null;
    this.#replace(slot);
  }

  #replace(slot) {
    this.#stop(slot);
    this.#slots.splice(this.#slots.indexOf(slot), 1);
    if (this.#closed) return;
    // The first worker is always kept; others only while there is work for them.
    if (this.#slots.length === 0 || this.#queue.length > 0) this.#startSlot();
    this.#dispatch();
  }

  #stop(slot) {
    clearTimeout(slot.idleTimer);
    slot.worker.terminate();
    slot.onFail(closedError());
  }

  #giveUp(error) {
    this.#fatal = error;
    for (const slot of this.#slots) {
      slot.job?.settle(false, error);
      slot.onFail(error);
      this.#stop(slot);
    }
    this.#slots = [];
    for (const job of this.#queue.splice(0)) job.settle(false, error);
  }

  #dispatch() {
    const free = this.#slots.filter((s) => s.isReady && !s.job && !s.split);
    if (this.#queue.length === 1 && free.length >= 2 && splittable(this.#queue[0].message)) {
      this.#split(this.#queue.shift(), free[0], free[1]);
    }
    for (const slot of this.#slots) {
      if (!this.#queue.length) break;
      if (!slot.isReady || slot.job || slot.split) continue;
      this.#give(slot, this.#queue.shift());
    }
    // Jobs still waiting and every worker busy or starting: one more, if allowed.
    const starting = this.#slots.filter((s) => !s.isReady).length;
    if (this.#queue.length > starting && this.#slots.length < this.#size) this.#startSlot();
    for (const slot of this.#slots) if (slot.isReady && !slot.job && !slot.split) this.#idle(slot);
  }

  /** `job` on two workers, `a` and `b`, held for it through the stages of split.js; a stage
   *  that fails (a worker that dies: code 'crashed') fails the job. */
  async #split(job, a, b) {
    const key = job.id;
    for (const slot of [a, b]) {
      clearTimeout(slot.idleTimer);
      slot.idleTimer = 0;
      slot.split = key;
    }
    const ask = (which, message, transfer = []) => {
      if (job.settled) return Promise.reject(job.error ?? closedError()); // aborted meanwhile
      const slot = which === 0 ? a : b;
      if (!this.#slots.includes(slot)) return Promise.reject(new GenderLensError('crashed', 'a worker of this photo stopped'));
      return new Promise((resolve, reject) => {
        const stage = { id: this.#nextId++, settled: false };
        stage.settle = (ok, value) => {
          if (stage.settled) return;
          stage.settled = true;
          (ok ? resolve : reject)(value);
        };
        slot.job = stage;
        slot.worker.postMessage({ type: 'job', id: stage.id, ...message }, transfer);
      });
    };
    try {
      job.settle(true, await analyzeSplit(ask, job, key));
    } catch (e) {
      job.settle(false, e);
      // Each worker still alive forgets the photo's pixels (a reply nobody waits for).
      for (const slot of [a, b]) {
        if (this.#slots.includes(slot)) slot.worker.postMessage({ type: 'job', id: 0, op: 'release', key });
      }
    } finally {
      for (const slot of [a, b]) if (slot.split === key) slot.split = 0;
      if (!this.#closed) this.#dispatch();
    }
  }

  #give(slot, job) {
    clearTimeout(slot.idleTimer);
    slot.idleTimer = 0;
    slot.job = job;
    slot.worker.postMessage({ type: 'job', id: job.id, ...job.message }, job.transfer);
  }

  /** A worker other than the first goes after `idleTimeout` ms without a job. */
  #idle(slot) {
    if (slot === this.#slots[0] || slot.idleTimer) return;
    slot.idleTimer = setTimeout(() => {
      slot.idleTimer = 0;
      if (slot.job || !this.#slots.includes(slot)) return;
      this.#stop(slot);
      this.#slots.splice(this.#slots.indexOf(slot), 1);
    }, this.#idleTimeout);
  }
}
