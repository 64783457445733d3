// Still-image video clips for Chromium's fake camera (`--use-file-for-fake-video-capture`).
import fs from 'node:fs';

/** Writes a 2-second YUV4MPEG2 clip (10 fps) of a still image. The frame is `width` px wide
 *  and as tall as the image at that width, or `height` px tall with the image centred on
 *  grey (like a webcam frame with a face in it). `page` is any Playwright page: it decodes
 *  and scales the image. */
export async function makeY4m(page, bytes, file, { width = 320, height = null } = {}) {
  const { h, rgba } = await page.evaluate(async ([b64, w, frameHeight]) => {
    const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const bitmap = await createImageBitmap(new Blob([data]));
    const fitted = Math.round((bitmap.height * w) / bitmap.width / 2) * 2;
    const h = frameHeight ?? fitted;
    const canvas = new OffscreenCanvas(w, h);
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#808080';
    ctx.fillRect(0, 0, w, h);
    if (frameHeight === null) ctx.drawImage(bitmap, 0, 0, w, h);
    else {
      const side = (h * bitmap.width) / bitmap.height;
      ctx.drawImage(bitmap, (w - side) / 2, 0, side, h);
    }
    return { h, rgba: Array.from(ctx.getImageData(0, 0, w, h).data) };
  }, [Buffer.from(bytes).toString('base64'), width, height]);
  const y = Buffer.alloc(width * h);
  const u = Buffer.alloc((width / 2) * (h / 2));
  const v = Buffer.alloc((width / 2) * (h / 2));
  for (let j = 0; j < h; j++) {
    for (let i = 0; i < width; i++) {
      const k = 4 * (j * width + i);
      const [r, g, b] = [rgba[k], rgba[k + 1], rgba[k + 2]];
      y[j * width + i] = Math.round(0.257 * r + 0.504 * g + 0.098 * b + 16);
      if (j % 2 === 0 && i % 2 === 0) {
        const c = (j / 2) * (width / 2) + i / 2;
        u[c] = Math.round(-0.148 * r - 0.291 * g + 0.439 * b + 128);
        v[c] = Math.round(0.439 * r - 0.368 * g - 0.071 * b + 128);
      }
    }
  }
  const frames = [];
  for (let f = 0; f < 20; f++) frames.push(Buffer.from('FRAME\n'), y, u, v);
  fs.writeFileSync(file, Buffer.concat([Buffer.from(`YUV4MPEG2 W${width} H${h} F10:1 Ip A1:1 C420jpeg\n`), ...frames]));
}
