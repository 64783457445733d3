// The one error type of the package: a readable message and a `code` to act on.

/** The codes a GenderLensError carries (see index.d.ts for what each means). */
export const CODES = Object.freeze([
  'not-an-image', 'truncated', 'too-large', 'unsupported-source', 'aborted', 'closed', 'crashed', 'model', 'internal',
]);

export class GenderLensError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = 'GenderLensError';
    this.code = CODES.includes(code) ? code : 'internal';
  }

  /** Any thrown value as a GenderLensError: the module's errors keep their `code`. */
  static from(error, fallbackCode = 'internal') {
    if (error instanceof GenderLensError) return error;
    const message = error && error.message ? error.message : String(error);
    return new GenderLensError(error?.code ?? fallbackCode, message, { cause: error });
  }
}

/** What crosses postMessage: plain data (an Error's own properties are not all cloned in
 *  every engine). */
export const toWire = (error) => ({ code: error?.code ?? 'internal', message: error && error.message ? error.message : String(error) });
export const fromWire = ({ code, message }) => new GenderLensError(code, message);

export const abortedError = (signal) =>
  new GenderLensError('aborted', 'The analysis was aborted.', { cause: signal?.reason });
export const closedError = () => new GenderLensError('closed', 'This GenderLens was closed.');
