// Assembles the npm package: node js/assemble.mjs WASM_PACK_OUT_DIR OUT_DIR
// The package's files from js/, the module and its glue from wasm-pack's output, the
// version from Cargo.toml and the weights' identities (sha256 of the files embedded in the
// module at build time) in version.js. Its JavaScript is minified (esbuild, pinned in
// build-tools/): every visitor of a page downloads it; the readable sources are js/ here.
// `npm pack OUT_DIR` then makes the tarball.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const [wasmDir, out] = process.argv.slice(2);
if (!wasmDir || !out) {
  console.error('usage: node js/assemble.mjs WASM_PACK_OUT_DIR OUT_DIR');
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');
const { transformSync } = createRequire(path.join(root, 'build-tools/package.json'))('esbuild');

const cargo = fs.readFileSync(path.join(root, 'Cargo.toml'), 'utf8');
const version = /\[workspace\.package\][^[]*?\nversion\s*=\s*"([^"]+)"/.exec(cargo)?.[1];
if (!version) throw new Error('no version in Cargo.toml [workspace.package]');

const manifest = JSON.parse(fs.readFileSync(path.join(here, 'package.json'), 'utf8'));
const weights = (file) => {
  const bytes = fs.readFileSync(path.join(root, 'models', file));
  return { file, sha256: crypto.createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
};
const detector = JSON.parse(fs.readFileSync(path.join(root, 'models/yunet.json'), 'utf8'));
const identity = {
  package: version,
  classifier: weights('genderlens.safetensors'),
  detector: { name: 'YuNet-s', ...weights('yunet.safetensors'), source: detector.source },
};

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(path.join(out, 'wasm'), { recursive: true });
for (const file of manifest.files) {
  const from = file.startsWith('wasm/') ? path.join(wasmDir, path.basename(file))
    : file === 'yunet-LICENSE.txt' ? path.join(root, 'models', file)
      : file === 'version.js' ? null : path.join(here, file);
  if (from) fs.copyFileSync(from, path.join(out, file));
}
fs.copyFileSync(path.join(here, 'README.md'), path.join(out, 'README.md'));
fs.writeFileSync(path.join(out, 'version.js'), `export const VERSION = Object.freeze(${JSON.stringify(identity)});\n`);
for (const file of manifest.files.filter((f) => f.endsWith('.js'))) {
  const target = path.join(out, file);
  const { code } = transformSync(fs.readFileSync(target, 'utf8'), { minify: true, format: 'esm', target: 'es2022', legalComments: 'none' });
  const source = file === 'version.js' ? 'written by js/assemble.mjs' : file.startsWith('wasm/') ? "wasm-bindgen's glue" : `js/${file}`;
  fs.writeFileSync(target, `// genderlens ${version}, minified; source: ${source} in the repository\n${code}`);
}
fs.writeFileSync(path.join(out, 'package.json'), JSON.stringify({ name: manifest.name, version, ...manifest }, null, 2) + '\n');
console.log(`genderlens ${version} assembled in ${out}`);
