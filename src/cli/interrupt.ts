// How `netlab serve` stops a run for its client (Ctrl-C, or the client gone). In its own process
// a command gets signals itself: apply stops at the next step boundary and rolls back, and a
// signal before apply listens (while it checks its files) ends the process before anything
// changed. A server cannot end itself for one run, so apply also listens here, and a stop that
// comes before it listens is kept and delivered when it starts: as a stop before the first step.
type Handler = (signal: NodeJS.Signals) => void;

let handler: Handler | null = null;
let pending: NodeJS.Signals | null = null;

/** Listens for stops of the running command (a stop asked for earlier arrives at once); returns how to stop listening. */
export function listenForInterrupt(h: Handler): () => void {
  handler = h;
  const early = pending;
  pending = null;
  if (early) h(early);
  return () => {
    if (handler === h) handler = null;
  };
}

/** Stops the running command; false when nothing listens (the stop is kept for a command that starts listening). */
export function interrupt(signal: NodeJS.Signals): boolean {
  if (handler) {
    handler(signal);
    return true;
  }
  pending = signal;
  return false;
}

/** Forgets any listener and kept stop: between two runs of `netlab serve`. */
export function resetInterrupt(): void {
  handler = null;
  pending = null;
}
