// `netlab test FILES`: runs the labs' `expect:` assertions against the applied labs.
import { writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import pc from 'picocolors';
import { store } from '../apply/store.js';
import { runLabAssertions } from '../assert/run.js';
import { counts, formatJunit, formatTap, formatText, type LabResult } from '../assert/report.js';
import { EXIT_ERROR, EXIT_OK } from '../errors.js';
import { parseDuration } from './duration.js';
import { loadValidLabs } from './labs.js';
import { out } from './output.js';

export interface TestOptions {
  junit?: string;
  tap?: boolean;
  json?: boolean;
  timeout: string;
}

export async function test(files: string[], o: TestOptions): Promise<number> {
  const timeoutMs = parseDuration(o.timeout);
  const labs = await loadValidLabs(files);
  const results: LabResult[] = [];
  for (const lab of labs) {
    if (!lab.expect.length && !lab.matrices?.length) out.warn(`${lab.file}: lab "${lab.name}" has no expect: assertions`);
    if (!(await store.readRecord(lab.name))) {
      const error = `lab "${lab.name}" is not applied on this machine: run "netlab apply ${lab.file}" first`;
      results.push({
        lab: lab.name,
        file: lab.file,
        error,
        results: lab.expect.map((e) => ({
          lab: lab.name,
          text: e.text,
          pos: e.pos,
          status: 'error',
          message: error,
          details: [],
          seconds: 0,
        })),
        seconds: 0,
        timestamp: new Date().toISOString().replace(/\.\d{3}Z$/, ''),
      });
      continue;
    }
    results.push(await runLabAssertions(lab, { timeoutMs, warn: (m) => out.warn(`${lab.name}: ${m}`) }));
  }
  if (o.junit) await writeFile(o.junit, formatJunit(results, hostname()));
  const c = counts(results);
  const failed = c.failed + c.errors > 0 || results.some((r) => r.error);
  if (o.json) out.json({ ok: !failed, ...c, labs: results });
  else if (o.tap) process.stdout.write(formatTap(results));
  else for (const l of formatText(results, { ok: pc.green, bad: pc.red, dim: pc.dim })) out.line(l);
  return failed ? EXIT_ERROR : EXIT_OK;
}
