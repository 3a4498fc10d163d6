// One error hierarchy. Every error knows its exit code (design notes, section 2):
// 0 success · 1 error and the kernel is as it was · 2 changes pending · 3 rollback incomplete.

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_PENDING = 2;
export const EXIT_ROLLBACK_INCOMPLETE = 3;

export abstract class NetlabError extends Error {
  abstract readonly exitCode: number;
  /** Lines printed under the message: what to do next. */
  hints: string[] = [];
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** One problem in a lab file, with its position. */
export interface LabIssue {
  file: string;
  line: number;
  col: number;
  /** Path of the offending key, e.g. `links[2].a`. */
  path: string;
  message: string;
}

export function formatLabIssue(i: LabIssue): string {
  return `${i.file}:${i.line}:${i.col}: ${i.path ? `${i.path}: ` : ''}${i.message}`;
}

/** Most problems a report lists one by one; a person reads the first ones, not 100k. */
export const MAX_REPORTED_ISSUES = 1000;

/** The issues as report lines: the first MAX_REPORTED_ISSUES, then how many more there are. */
export function specIssueLines(issues: readonly LabIssue[]): string[] {
  const lines = issues.slice(0, MAX_REPORTED_ISSUES).map(formatLabIssue);
  if (issues.length > MAX_REPORTED_ISSUES) lines.push(`... and ${issues.length - MAX_REPORTED_ISSUES} more`);
  return lines;
}

/** Invalid input: nothing was changed. */
export class LabError extends NetlabError {
  readonly exitCode = EXIT_ERROR;
  constructor(readonly issues: LabIssue[]) {
    super(specIssueLines(issues).join('\n'));
  }
}

/** Wrong command-line usage or an argument that names nothing. */
export class UsageError extends NetlabError {
  readonly exitCode = EXIT_ERROR;
}

/** The kernel or a tool lacks what the lab needs; found before anything changed. */
export class PreflightError extends NetlabError {
  readonly exitCode = EXIT_ERROR;
  constructor(readonly missing: { feature: string; detail: string; fix: string }[]) {
    super(missing.map((m) => `${m.feature}: ${m.detail}\n  fix: ${m.fix}`).join('\n'));
  }
}

/** The lab would take an object netlab does not own (a name in use, a foreign table). */
export class ConflictError extends NetlabError {
  readonly exitCode = EXIT_ERROR;
}

/** The state directory or a file in it cannot be trusted (owner, mode, a symlink): nothing was changed. */
export class StateDirError extends NetlabError {
  readonly exitCode = EXIT_ERROR;
}

/** Another netlab process holds the lab's lock. */
export class LockBusyError extends NetlabError {
  readonly exitCode = EXIT_ERROR;
}

/** A command run by the driver failed. Carries what is needed to report it precisely. */
export class KernelError extends NetlabError {
  readonly exitCode = EXIT_ERROR;
  constructor(
    readonly detail: {
      /** Namespace key, '' for the machine's own. */
      ns: string;
      command: string;
      /** The kernel's (or tool's) message. */
      stderr: string;
      /** Index of the failing line in a batch, when known (0-based). */
      line?: number;
      /** The step and object the failing command belongs to, filled in by the executor. */
      step?: string;
      object?: string;
    },
  ) {
    super(KernelError.describe(detail));
  }
  static describe(d: KernelError['detail']): string {
    const where = d.ns ? `namespace ${d.ns}` : 'the root namespace';
    const head = d.step ? `step "${d.step}"${d.object ? ` on ${d.object}` : ''} failed in ${where}` : `command failed in ${where}`;
    return `${head}\n  command: ${d.command}\n  kernel: ${d.stderr.trim() || '(no message)'}`;
  }
  withStep(step: string, object: string): KernelError {
    return new KernelError({ ...this.detail, step, object });
  }
}

/** Apply failed and rollback restored the state before the run. */
export class ApplyFailedError extends NetlabError {
  readonly exitCode = EXIT_ERROR;
  constructor(
    readonly original: Error,
    readonly lab: string,
  ) {
    super(`apply of lab "${lab}" failed and was rolled back; the kernel is as it was before the run.\n${original.message}`);
  }
}

/** Apply failed and rollback did not complete: the journal keeps the checkpoint. */
export class RollbackIncompleteError extends NetlabError {
  readonly exitCode = EXIT_ROLLBACK_INCOMPLETE;
  constructor(
    /** What failed: the apply's error, or what was being done (recovering a run). */
    readonly original: Error | string,
    /** Why the undo did not complete: its failure, or why it was not attempted. */
    readonly rollback: Error | string,
    readonly lab: string,
  ) {
    const text = (e: Error | string) => (typeof e === 'string' ? e : e.message);
    super(`apply of lab "${lab}" failed:\n${text(original)}\nrollback did not complete:\n${text(rollback)}`);
    this.hints.push(`the checkpoint is kept in the journal; run "netlab gc" or re-run apply/destroy to finish the undo`);
  }
}

/** Verify after apply found differences. */
export class VerifyError extends NetlabError {
  readonly exitCode = EXIT_ERROR;
  constructor(readonly differences: string[]) {
    super(`verify found ${differences.length} difference(s) between the lab and the kernel:\n  ${differences.join('\n  ')}`);
  }
}

/** Assertions (`expect:`) failed. */
export class AssertionsFailedError extends NetlabError {
  readonly exitCode = EXIT_ERROR;
}

/** Stopped by SIGINT/SIGTERM at a step boundary. */
export class InterruptedError extends NetlabError {
  readonly exitCode = EXIT_ERROR;
  constructor(signal: string) {
    super(`interrupted by ${signal}`);
  }
}

/** A bug in netlab: a state its own checks should have made impossible. */
export class InternalError extends NetlabError {
  readonly exitCode = EXIT_ERROR;
  constructor(message: string) {
    super(`internal error (please report): ${message}`);
  }
}

/**
 * A program netlab runs for its own work (the netlink and runner helpers, the probe, the responder,
 * ping) failed or is missing, before anything of the lab was changed by it.
 */
export class ToolError extends NetlabError {
  readonly exitCode = EXIT_ERROR;
}

/** A Node error for what is not one (a rejection with a string, say), keeping its text. */
export function asError(e: unknown): Error {
  return e instanceof Error ? e : new ToolError(String(e));
}

export function exitCodeOf(err: unknown): number {
  return err instanceof NetlabError ? err.exitCode : EXIT_ERROR;
}

/** A machine of a lab across machines failed, or could not be reached; the message names it. */
export class MachineError extends NetlabError {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_ERROR,
  ) {
    super(message);
  }
}
