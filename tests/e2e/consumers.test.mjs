// The packed tarball as a user gets it (tests/consumers/README.md): installed into a scratch
// project, used from a plain page, bundled by esbuild and by Vite, each page finding the
// Solvay photo's faces in headless Chromium; and its types under tsc --strict.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launch, root, startServer } from './harness.mjs';

const tools = path.join(root, 'tests/consumers/node_modules/.bin');
const packed = path.join(root, 'target/npm');
let scratch;
let browser;

before(async () => {
  const tarball = fs.readdirSync(packed).find((f) => /^genderlens-.*\.tgz$/.test(f));
  assert.ok(tarball, 'no packed tarball in target/npm (./dev test makes it)');
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'genderlens-consumer-'));
  fs.cpSync(path.join(root, 'tests/consumers/app'), scratch, { recursive: true });
  fs.writeFileSync(path.join(scratch, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  // A local tarball without dependencies: nothing is fetched.
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--offline', path.join(packed, tarball)], { cwd: scratch, stdio: 'pipe' });
  fs.copyFileSync(path.join(root, 'tests/fixtures/solvay-1927.jpg'), path.join(scratch, 'solvay-1927.jpg'));
  browser = await launch();
});

after(async () => {
  await browser?.close();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

/** The faces the page at `file` of `folder` reports, served on its own. */
async function facesOn(folder, file) {
  const { server, origin } = await startServer({ mounts: [['/', folder]] });
  const page = await browser.newPage();
  try {
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${origin}/${file}`);
    await page.waitForFunction(() => document.body?.dataset.faces || document.body?.dataset.error, null, { timeout: 60_000 });
    const error = await page.evaluate(() => document.body.dataset.error ?? null);
    assert.equal(error, null, `${file}: ${error} ${errors.join('; ')}`);
    return Number(await page.evaluate(() => document.body.dataset.faces));
  } finally {
    await page.close();
    server.close();
  }
}

test('a plain static page with no build step uses the installed package', async () => {
  assert.equal(await facesOn(scratch, 'static.html'), 29);
});

test('bundled by esbuild: the page, the worker as a second entry point, the .wasm copied', async () => {
  const out = path.join(scratch, 'dist-esbuild');
  const pkg = path.join(scratch, 'node_modules/genderlens');
  execFileSync(path.join(tools, 'esbuild'), ['main.js', '--bundle', '--format=esm', `--outfile=${out}/main.js`], { cwd: scratch, stdio: 'pipe' });
  execFileSync(path.join(tools, 'esbuild'), [path.join(pkg, 'worker.js'), '--bundle', '--format=esm', `--outfile=${out}/worker.js`], { cwd: scratch, stdio: 'pipe' });
  fs.copyFileSync(path.join(pkg, 'wasm/genderlens_bg.wasm'), path.join(out, 'genderlens_bg.wasm'));
  fs.copyFileSync(path.join(scratch, 'esbuild.html'), path.join(out, 'index.html'));
  fs.copyFileSync(path.join(scratch, 'solvay-1927.jpg'), path.join(out, 'solvay-1927.jpg'));
  assert.equal(await facesOn(out, 'index.html'), 29);
});

test('bundled by Vite: the worker and the .wasm found by the bundler', async () => {
  const app = path.join(scratch, 'vite-app');
  fs.mkdirSync(path.join(app, 'public'), { recursive: true });
  fs.copyFileSync(path.join(scratch, 'vite.html'), path.join(app, 'index.html'));
  fs.copyFileSync(path.join(scratch, 'main.js'), path.join(app, 'main.js'));
  fs.copyFileSync(path.join(scratch, 'vite.config.js'), path.join(app, 'vite.config.js'));
  fs.copyFileSync(path.join(scratch, 'solvay-1927.jpg'), path.join(app, 'public/solvay-1927.jpg'));
  execFileSync(path.join(tools, 'vite'), ['build', '--logLevel', 'warn'], { cwd: app, stdio: 'pipe' });
  const assets = fs.readdirSync(path.join(app, 'dist/assets'));
  assert.ok(assets.some((f) => f.endsWith('.wasm')), `no .wasm among ${assets}`);
  assert.equal(await facesOn(path.join(app, 'dist'), 'index.html'), 29);
});

test('tsc --strict passes on a typed consumer and fails on each wrong line of another', () => {
  const check = (file) => {
    fs.writeFileSync(path.join(scratch, 'tsconfig.check.json'), JSON.stringify({ extends: './tsconfig.json', files: [file] }));
    return spawnSync(path.join(tools, 'tsc'), ['-p', 'tsconfig.check.json'], { cwd: scratch, encoding: 'utf8' });
  };
  const good = check('good.ts');
  assert.equal(good.status, 0, good.stdout + good.stderr);
  const bad = check('bad.ts');
  assert.notEqual(bad.status, 0, 'the wrong consumer type-checked');
  const expected = fs.readFileSync(path.join(scratch, 'bad.ts'), 'utf8').split('\n')
    .map((line, i) => [i + 1, /\/\/ (TS\d+)/.exec(line)?.[1]]).filter(([, code]) => code);
  for (const [line, code] of expected) {
    assert.ok(new RegExp(`bad\\.ts\\(${line},\\d+\\): error ${code}`).test(bad.stdout), `line ${line}: no ${code} in\n${bad.stdout}`);
  }
  assert.equal(bad.stdout.match(/error TS/g).length, expected.length, bad.stdout);
});
