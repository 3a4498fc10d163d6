// How `netlab ui` keeps to one observation a second however many asks come in (the Pacer, on fake
// timers), and how a page that reads slowly gets only the latest event of each kind (EventStream).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EventStream, Pacer, type EventSink } from '../../src/ui/live.js';

const INTERVAL = 1000;

describe('Pacer', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A task that counts its runs and the most that ever ran at once, and ends when told. */
  function task() {
    const t = { runs: 0, running: 0, most: 0, finish: [] as (() => void)[] };
    const run = () =>
      new Promise<void>((resolve) => {
        t.runs++;
        t.most = Math.max(t.most, ++t.running);
        t.finish.push(() => {
          t.running--;
          resolve();
        });
      });
    const endAll = async () => {
      for (const f of t.finish.splice(0)) f();
      await vi.advanceTimersByTimeAsync(0);
    };
    return { t, run, endAll };
  }

  it('makes a burst of asks one run', async () => {
    const { t, run, endAll } = task();
    const p = new Pacer(run, INTERVAL);
    for (let i = 0; i < 5000; i++) p.request();
    await vi.advanceTimersByTimeAsync(0);
    expect(t.runs).toBe(1);
    await endAll();
    await vi.advanceTimersByTimeAsync(INTERVAL * 5);
    expect(t.runs).toBe(1);
  });

  it('runs at most once an interval under thousands of asks a second, and never twice at once', async () => {
    const { t, run, endAll } = task();
    const p = new Pacer(run, INTERVAL);
    // Ten seconds of an ask every millisecond, each run ending at once.
    for (let ms = 0; ms < 10 * INTERVAL; ms++) {
      p.request();
      p.request();
      await endAll();
      await vi.advanceTimersByTimeAsync(1);
    }
    expect(t.most).toBe(1);
    expect(t.runs).toBeGreaterThanOrEqual(10);
    expect(t.runs).toBeLessThanOrEqual(11);
  });

  it('turns asks during a slow run into one more run, an interval after the first began', async () => {
    const { t, run, endAll } = task();
    const p = new Pacer(run, INTERVAL);
    p.request();
    await vi.advanceTimersByTimeAsync(0);
    for (let i = 0; i < 100; i++) p.request();
    await vi.advanceTimersByTimeAsync(INTERVAL * 3);
    expect(t.runs).toBe(1);
    expect(t.most).toBe(1);
    await endAll();
    // The run took three intervals: the next may start at once.
    await vi.advanceTimersByTimeAsync(0);
    expect(t.runs).toBe(2);
    await endAll();
    await vi.advanceTimersByTimeAsync(INTERVAL * 3);
    expect(t.runs).toBe(2);
  });

  it('waits out the interval after a quick run', async () => {
    const { t, run, endAll } = task();
    const p = new Pacer(run, INTERVAL);
    p.request();
    await vi.advanceTimersByTimeAsync(0);
    await endAll();
    p.request();
    await vi.advanceTimersByTimeAsync(INTERVAL - 1);
    expect(t.runs).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.runs).toBe(2);
  });

  it('drops a pending run when stopped (no page open), and runs again once resumed', async () => {
    const { t, run, endAll } = task();
    const p = new Pacer(run, INTERVAL);
    p.request();
    await vi.advanceTimersByTimeAsync(0);
    await endAll();
    p.request();
    p.stop();
    p.request();
    await vi.advanceTimersByTimeAsync(INTERVAL * 10);
    expect(t.runs).toBe(1);
    expect(p.busy).toBe(false);
    p.resume();
    p.request();
    await vi.advanceTimersByTimeAsync(0);
    expect(t.runs).toBe(2);
  });

  it('keeps going after a failed run', async () => {
    let runs = 0;
    const p = new Pacer(async () => {
      runs++;
      throw new TypeError('observation failed');
    }, INTERVAL);
    p.request();
    await vi.advanceTimersByTimeAsync(0);
    p.request();
    await vi.advanceTimersByTimeAsync(INTERVAL);
    expect(runs).toBe(2);
  });
});

/** A stream that takes `room` writes, then says it is full until drained. */
class SlowSink implements EventSink {
  written: string[] = [];
  private drain: (() => void) | null = null;
  constructor(private room: number) {}
  write(chunk: string): boolean {
    this.written.push(chunk);
    return --this.room > 0;
  }
  once(_event: 'drain', fn: () => void): this {
    this.drain = fn;
    return this;
  }
  drained(room: number): void {
    this.room = room;
    const f = this.drain;
    this.drain = null;
    f?.();
  }
}

describe('EventStream', () => {
  it('writes events as SSE frames', () => {
    const sink = new SlowSink(100);
    new EventStream(sink).send('state', { seq: 1 });
    expect(sink.written).toEqual(['event: state\ndata: {"seq":1}\n\n']);
  });

  it('holds only the latest event of each kind while the page reads slowly, and sends them once it drains', () => {
    const sink = new SlowSink(1);
    const s = new EventStream(sink);
    s.send('state', { seq: 0 });
    for (let seq = 1; seq <= 3000; seq++) s.send('state', { seq });
    s.send('graph', { changed: true });
    expect(sink.written).toHaveLength(1);
    expect(s.held).toBe(2);
    sink.drained(100);
    expect(sink.written).toEqual([
      'event: state\ndata: {"seq":0}\n\n',
      'event: state\ndata: {"seq":3000}\n\n',
      'event: graph\ndata: {"changed":true}\n\n',
    ]);
    expect(s.held).toBe(0);
    s.send('state', { seq: 3001 });
    expect(sink.written).toHaveLength(4);
  });
});
