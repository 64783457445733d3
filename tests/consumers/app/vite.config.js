// Vite finds the worker (new Worker(new URL(…, import.meta.url))) and the .wasm itself; the
// worker is an ES module.
export default { worker: { format: 'es' }, build: { rollupOptions: { input: 'index.html' } } };
