// The npm package's own tests (tests/package/suite.js) in each engine: Chromium, Firefox ESR
// and WebKitGTK. An engine that is not installed fails with CI=true and is skipped (with its
// reason) otherwise.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { root, startServer } from './harness.mjs';
import { ENGINES, inEngine } from './engines.mjs';

const built = path.join(root, 'target/npm/genderlens');
let server;
let origin;

before(async () => {
  assert.ok(fs.existsSync(path.join(built, 'wasm/genderlens_bg.wasm')), 'target/npm/genderlens is not built (./dev test builds it)');
  ({ server, origin } = await startServer({
    mounts: [['/genderlens/', built], ['/fixtures/', path.join(root, 'tests/fixtures')], ['/', path.join(root, 'tests/package')]],
  }));
});

after(() => server?.close());

for (const engine of ENGINES) {
  test(`the package in ${engine}`, async (t) => {
    await inEngine(engine, t, async (browser) => {
      await browser.goto(`${origin}/index.html`);
      await browser.waitFor('window.suiteDone === true', 300_000);
      const error = await browser.evaluate('window.suiteError ?? null');
      assert.equal(error, null, `the suite stopped: ${error}`);
      const results = await browser.evaluate('window.suiteResults');
      for (const r of results) t.diagnostic(`${engine}: ${r.ok ? (r.skipped ? 'skipped' : 'ok') : 'FAILED'} ${r.name}${r.skipped ? ` (${r.skipped})` : r.detail ? ` — ${r.detail}` : ''}`);
      const failed = results.filter((r) => !r.ok);
      assert.deepEqual(failed.map((r) => `${r.name}: ${r.detail}`), [], `${failed.length} of ${results.length} cases failed in ${engine}`);
      assert.ok(results.length >= 15, `only ${results.length} cases ran`);
    });
  });
}
