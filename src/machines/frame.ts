// The slice a coordinator sends a machine on stdin: a line with its length in bytes, then the
// bytes. After it, stdin stays open for as long as the coordinator waits for the answer, so its
// end, before the answer, says the coordinator is gone (killed, or its connection dropped).
import type { Readable } from 'node:stream';
import { UsageError } from '../errors.js';

export function frame(text: string): string {
  return `${Buffer.byteLength(text)}\n${text}`;
}

/** The longest length line: 10 digits and the newline. */
const HEAD_MAX = 11;

/**
 * Reads one frame from `input`, at most `max` bytes long; `onEnd` runs when the input ends after
 * the frame came. Bytes after the frame are ignored.
 */
export function readFrame(input: Readable, max: number, onEnd: () => void): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    let want: number | null = null;
    let done = false;
    const fail = (e: Error) => {
      done = true;
      input.off('data', onData);
      reject(e);
    };
    const onData = (chunk: Buffer) => {
      if (done) return;
      buf = Buffer.concat([buf, chunk]);
      if (want === null) {
        const nl = buf.indexOf(0x0a);
        if (nl < 0 && buf.length < HEAD_MAX) return;
        const head = nl < 0 ? '' : buf.subarray(0, nl).toString('latin1');
        if (!/^\d{1,10}$/.test(head)) return fail(new UsageError('stdin must start with a line giving the length of the slice in bytes'));
        want = Number(head);
        if (want > max) return fail(new UsageError(`the slice on stdin is larger than ${max} bytes`));
        buf = buf.subarray(nl + 1);
      }
      if (buf.length >= want) {
        done = true;
        resolve(buf.subarray(0, want));
      }
    };
    input.on('data', onData);
    input.once('end', () => {
      if (done) onEnd();
      else fail(new UsageError('stdin ended before the whole slice came'));
    });
    input.once('error', (e) => (done ? onEnd() : fail(e)));
  });
}
