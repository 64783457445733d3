// The npm package's speed in Chromium, Firefox ESR and WebKitGTK (`./dev bench`), with one
// worker and with two, alternated in ROUNDS rounds (this machine's speed drifts): per-photo
// time for the group of four (640 × 360), the Solvay photo (1 024 px) and a portrait, and 300
// portraits through analyzeMany. Prints a table (medians over the rounds) and one JSON line.
import path from 'node:path';
import { root, startServer } from './harness.mjs';
import { ENGINES, missing, open } from './engines.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const MANY = Number(process.env.BENCH_MANY_PHOTOS ?? 300);
const WORKERS = [1, 2];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const { server, origin } = await startServer({
  mounts: [['/genderlens/', path.join(root, 'target/npm/genderlens')], ['/fixtures/', path.join(root, 'tests/fixtures')], ['/', path.join(root, 'tests/package')]],
});
const all = {};
try {
  for (const engine of ENGINES) {
    const why = missing(engine);
    if (why) {
      console.log(`${engine}: not measured (${why})`);
      continue;
    }
    const rounds = Object.fromEntries(WORKERS.map((w) => [w, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const workers of round % 2 ? [...WORKERS].reverse() : WORKERS) {
        const browser = await open(engine);
        try {
          await browser.goto(`${origin}/bench.html?workers=${workers}&runs=${RUNS}&many=${MANY}`);
          await browser.waitFor('window.benchResult !== undefined || window.benchError !== undefined', 600_000);
          const error = await browser.evaluate('window.benchError ?? null');
          if (error) throw new Error(`${engine}, ${workers} workers: ${error}`);
          rounds[workers].push(await browser.evaluate('window.benchResult'));
        } finally {
          await browser.close();
        }
      }
    }
    const summary = {};
    for (const workers of WORKERS) {
      const rs = rounds[workers];
      summary[workers] = {
        many_ms: median(rs.map((r) => r.many.ms)),
        many_failed: Math.max(...rs.map((r) => r.many.failed)),
        ...Object.fromEntries(['group', 'solvay', 'portrait'].map((p) => [p, {
          total_ms: median(rs.map((r) => r.photo[p].total_ms)),
          all_total_ms: rs.map((r) => Math.round(10 * r.photo[p].total_ms) / 10),
          detect_ms: median(rs.map((r) => r.photo[p].detect_ms)),
          classify_ms: median(rs.map((r) => r.photo[p].classify_ms)),
        }])),
        all_many_ms: rs.map((r) => Math.round(r.many.ms)),
      };
    }
    all[engine] = summary;
    const [one, two] = [summary[1], summary[2]];
    const ratio = (a, b) => (b / a).toFixed(2);
    console.log(`${engine}: ${MANY} portraits through analyzeMany: 1 worker ${(one.many_ms / 1000).toFixed(2)} s (${one.all_many_ms.join(', ')} ms), ` +
      `2 workers ${(two.many_ms / 1000).toFixed(2)} s (${two.all_many_ms.join(', ')} ms): ${ratio(one.many_ms, two.many_ms)}×`);
    for (const p of ['group', 'solvay', 'portrait']) {
      console.log(`${engine}: ${p.padEnd(8)} 1 worker ${one[p].total_ms.toFixed(1)} ms (rounds ${one[p].all_total_ms.join(', ')}; detection ` +
        `${one[p].detect_ms.toFixed(1)}, classification ${one[p].classify_ms.toFixed(1)}), 2 workers ${two[p].total_ms.toFixed(1)} ms ` +
        `(${two[p].all_total_ms.join(', ')}): ${ratio(one[p].total_ms, two[p].total_ms)}×`);
    }
  }
  console.log(JSON.stringify({ rounds: ROUNDS, runs: RUNS, many: MANY, engines: all }));
} finally {
  server.close();
}
