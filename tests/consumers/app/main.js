// A user's page code: the package found by its npm name, the worker and the .wasm beside it
// (plain pages with an import map, and Vite), or where the esbuild build put them.
import { GenderLens } from 'genderlens';

const where = globalThis.genderlensFiles ?? {};
try {
  const lens = await GenderLens.create({ ...where, workers: 2 });
  const photo = await (await fetch('./solvay-1927.jpg')).blob();
  const { faces } = await lens.analyze(photo);
  document.body.dataset.faces = String(faces.length);
  document.body.textContent = `${faces.length} faces, the first ${faces[0].label} (${GenderLens.version.package})`;
} catch (e) {
  document.body.dataset.error = `${e.code}: ${e.message}`;
}
