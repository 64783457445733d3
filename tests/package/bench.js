// The package's speed in one engine with `?workers=N` (tests/e2e/bench-package.mjs opens it
// in each engine and alternates the worker counts): `?runs=R&many=M`. Sets
// `window.benchResult` (or `window.benchError`) when done.
import { GenderLens } from '/genderlens/index.js';

const params = new URLSearchParams(location.search);
const workers = Number(params.get('workers') ?? 1);
const runs = Number(params.get('runs') ?? 15);
const many = Number(params.get('many') ?? 300);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const blobOf = async (name) => (await fetch(`/fixtures/${name}`)).blob();

async function main() {
  const portraits = await Promise.all(['collins', 'einstein', 'planck'].map((n) => blobOf(`faces/${n}.jpg`)));
  const solvay = await blobOf('solvay-1927.jpg');
  // A 640 x 360 group photo of four people side by side, faces about 50 px.
  const group = new OffscreenCanvas(640, 360);
  const ctx = group.getContext('2d');
  ctx.fillStyle = '#8a8f94';
  ctx.fillRect(0, 0, 640, 360);
  const people = await Promise.all([0, 1, 2, 1].map((i) => createImageBitmap(portraits[i])));
  people.forEach((p, i) => ctx.drawImage(p, 30 + i * 150, 110 + (i % 2) * 30, 110, 110));
  const groupPixels = ctx.getImageData(0, 0, 640, 360);

  const t0 = performance.now();
  const lens = await GenderLens.create({ workers, warmUp: false });
  const createMs = performance.now() - t0;
  // Every worker started and its code optimised: the photos of a drop, twice over.
  const warm = Array.from({ length: 20 * workers }, (_, i) => (i % 5 === 4 ? solvay : portraits[i % 3]));
  for (let round = 0; round < 2; round++) for await (const entry of lens.analyzeMany(warm)) if (entry.error) throw entry.error;

  const photo = {};
  for (const [name, source] of [['group', groupPixels], ['solvay', solvay], ['portrait', portraits[1]]]) {
    const times = [];
    for (let i = 0; i < runs; i++) times.push((await lens.analyze(source)).timings);
    photo[name] = {
      total_ms: median(times.map((t) => t.totalMs)),
      detect_ms: median(times.map((t) => t.detectMs)),
      classify_ms: median(times.map((t) => t.classifyMs)),
      fastest_ms: Math.min(...times.map((t) => t.totalMs)),
    };
  }
  const sources = Array.from({ length: many }, (_, i) => portraits[i % 3]);
  const t1 = performance.now();
  let failed = 0;
  for await (const entry of lens.analyzeMany(sources)) if (entry.error) failed++;
  const manyMs = performance.now() - t1;
  lens.close();
  return { workers, create_ms: createMs, photo, many: { photos: many, ms: manyMs, failed } };
}

main().then(
  (result) => { window.benchResult = result; document.querySelector('#state').textContent = 'done'; },
  (e) => { window.benchError = String(e && e.stack ? e.stack : e); },
);
