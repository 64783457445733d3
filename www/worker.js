// Runs the wasm pipeline off the main thread so the page never freezes.
import init, { GenderLens } from './pkg/genderlens.js';

let lens = null;

async function start() {
  const t0 = performance.now();
  try {
    await init();
    lens = new GenderLens();
    postMessage({ type: 'ready', ms: performance.now() - t0 });
  } catch (e) {
    postMessage({ type: 'fatal', message: `Could not start the model: ${e && e.message ? e.message : e}` });
  }
}

const ready = start();

function run(msg) {
  switch (msg.op) {
    case 'bytes': return lens.analyzeBytes(new Uint8Array(msg.bytes));
    case 'rgba': return lens.analyzeRgba(new Uint8Array(msg.data), msg.width, msg.height);
    case 'whole-bytes': return lens.classifyWholeBytes(new Uint8Array(msg.bytes));
    default: throw new Error(`unknown request ${msg.op}`);
  }
}

onmessage = async ({ data: msg }) => {
  await ready;
  if (!lens) {
    postMessage({ id: msg.id, ok: false, error: 'The model is not available.', fatal: true });
    return;
  }
  const t0 = performance.now();
  try {
    const result = run(msg);
    postMessage({ id: msg.id, ok: true, result, ms: performance.now() - t0 });
  } catch (e) {
    // A wasm trap (RuntimeError, e.g. a Rust panic) leaves the module unusable: say so and
    // ask the page for a fresh worker.
    const fatal = e instanceof WebAssembly.RuntimeError;
    const detail = e && e.message ? e.message : String(e);
    const error = fatal ? `the model crashed on this file (${detail}) and was restarted; other files will work` : detail;
    postMessage({ id: msg.id, ok: false, error, fatal });
  }
};
