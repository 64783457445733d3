// The three browser engines, from apt and npm only, behind one small interface: Chromium
// and Firefox ESR through playwright-core (Firefox over WebDriver BiDi, its `moz-firefox`
// channel), WebKitGTK through its WebDriver (selenium-webdriver) under a virtual X display.
// `open(engine)` resolves to a driver: `{ name, goto(url), reload(), evaluate(f, arg),
// waitFor(f, ms, arg), press(key), screenshot(file), requests, close() }`, where `f` is an
// expression (it may be a promise) or a self-contained function of one JSON argument, run in
// the page, whose value is JSON; `requests` lists every URL the page and its workers asked
// for (null in WebKitGTK, whose WebDriver does not report them).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import { firefox } from 'playwright-core';
import { launch } from './harness.mjs';

export const ENGINES = ['chromium', 'firefox', 'webkit'];

const FIREFOX = '/usr/bin/firefox-esr';
const WEBKIT_DRIVER = '/usr/bin/WebKitWebDriver';

/** MiniBrowser, the browser WebKitWebDriver starts (its folder names the architecture). */
function miniBrowser() {
  for (const dir of fs.readdirSync('/usr/lib', { withFileTypes: true })) {
    const candidate = `/usr/lib/${dir.name}/webkit2gtk-4.1/MiniBrowser`;
    if (dir.isDirectory() && fs.existsSync(candidate)) return candidate;
  }
  return null;
}

/** `f(browser)` on a fresh page of `engine` (`options` as for `open`), closed after; an
 *  engine that is not installed fails the test `t` with CI=true and skips it (saying why)
 *  otherwise. */
export async function inEngine(engine, t, f, options = {}) {
  const why = missing(engine);
  if (why) {
    if (process.env.CI === 'true') throw new Error(`${engine}: ${why}`);
    t.skip(why);
    return;
  }
  const browser = await open(engine, options);
  try {
    await f(browser);
  } finally {
    await browser.close();
  }
}

/** One node test per engine, titled `ENGINE: title`: `body(browser, t)` on a fresh page of
 *  it. `only`: the engines that can run it; the others skip, giving `why`. `args`: as for
 *  `open`. */
export function inEveryEngine(title, body, { only = ENGINES, why = '', args } = {}) {
  for (const engine of ENGINES) {
    test(`${engine}: ${title}`, (t) => (only.includes(engine)
      ? inEngine(engine, t, (browser) => body(browser, t), { args })
      : t.skip(why)));
  }
}

/** Why `engine` cannot run here, or null when it can. */
export function missing(engine) {
  if (engine === 'chromium') return fs.existsSync('/usr/bin/chromium') ? null : '/usr/bin/chromium is not installed';
  if (engine === 'firefox') return fs.existsSync(FIREFOX) ? null : `${FIREFOX} is not installed`;
  if (!fs.existsSync(WEBKIT_DRIVER) || !miniBrowser()) return 'webkit2gtk-driver is not installed';
  return null;
}

/** Resolves once `check()` gives a truthy value (errors count as false: a page still
 *  loading), or fails after `ms`. */
async function poll(check, what, ms) {
  const end = Date.now() + ms;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The source of `f(arg)`: a function is serialised with its argument, an expression as is. */
const script = (f, arg) => (typeof f === 'function' ? `(${f})(${JSON.stringify(arg ?? null)})` : f);

function playwrightPage(name, browser) {
  return browser.newContext().then((context) => context.newPage()).then((page) => {
    const requests = [];
    page.on('request', (r) => requests.push(r.url()));
    page.context().on('request', (r) => requests.push(r.url()));
    const evaluate = (f, arg) => page.evaluate(script(f, arg));
    return {
      name,
      page,
      requests,
      goto: (url) => page.goto(url),
      reload: () => page.reload(),
      evaluate,
      // Polled with evaluate: waitForFunction evaluates its string with eval(), which the
      // page's Content-Security-Policy refuses.
      waitFor: (f, ms = 60_000, arg) => poll(() => evaluate(f, arg), String(f), ms),
      press: (key) => page.keyboard.press(key),
      screenshot: (file) => page.screenshot({ path: file }),
      close: () => browser.close(),
    };
  });
}

const freePort = () => new Promise((resolve) => {
  const server = net.createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    server.close(() => resolve(port));
  });
});

async function webkit() {
  const { Builder } = await import('selenium-webdriver');
  const port = await freePort();
  // MiniBrowser has no headless mode: a virtual display of its own.
  const driverProcess = spawn('xvfb-run', ['-a', WEBKIT_DRIVER, `--port=${port}`], { stdio: 'ignore', detached: true });
  const stopDriver = () => {
    try {
      process.kill(-driverProcess.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  };
  let driver;
  try {
    for (let tries = 0; ; tries++) {
      try {
        driver = await new Builder().usingServer(`http://127.0.0.1:${port}`).withCapabilities({
          browserName: 'MiniBrowser',
          'webkitgtk:browserOptions': { binary: miniBrowser(), args: ['--automation'] },
        }).build();
        break;
      } catch (e) {
        if (tries > 50) throw e;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } catch (e) {
    stopDriver();
    throw e;
  }
  await driver.manage().setTimeouts({ script: 600_000, pageLoad: 60_000 });
  const evaluate = async (f, arg) => {
    const reply = await driver.executeAsyncScript(`const done = arguments[arguments.length - 1];
      Promise.resolve().then(() => (${script(f, arg)})).then((value) => done({ ok: true, value: value === undefined ? null : value }),
        (e) => done({ ok: false, error: String(e && e.stack || e) }));`);
    if (!reply.ok) throw new Error(reply.error);
    return reply.value;
  };
  const { Key } = await import('selenium-webdriver');
  return {
    name: 'webkit',
    requests: null,
    goto: (url) => driver.get(url),
    reload: () => driver.navigate().refresh(),
    evaluate,
    waitFor: (f, ms = 60_000, arg) => poll(() => evaluate(f, arg), String(f), ms),
    press: (key) => driver.actions().sendKeys(Key[key.toUpperCase()] ?? key).perform(),
    screenshot: async (file) => fs.writeFileSync(file, Buffer.from(await driver.takeScreenshot(), 'base64')),
    async close() {
      await driver.quit().catch(() => {});
      stopDriver();
    },
  };
}

/** A fresh page of `engine`; `args`: Chromium's extra command-line flags (its fake camera). */
export async function open(engine, { args = [] } = {}) {
  if (engine === 'chromium') return playwrightPage('chromium', await launch(args));
  if (engine === 'firefox') {
    return playwrightPage('firefox', await firefox.launch({ channel: 'moz-firefox', executablePath: FIREFOX, headless: true }));
  }
  if (engine === 'webkit') return webkit();
  throw new Error(`unknown engine ${engine}`);
}
