// `netlab test FILES`: runs the labs' `expect:` assertions against the applied labs.
import type { Command, OptionValues } from '@commander-js/extra-typings';
import { writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import pc from 'picocolors';
import { store } from '../apply/store.js';
import { runLabAssertions } from '../assert/run.js';
import { counts, formatJunit, formatTap, formatText, type LabResult } from '../assert/report.js';
import { EXIT_ERROR, EXIT_OK } from '../errors.js';
import { loadValidLabs } from './labs.js';
import { out } from './output.js';
import { parseDuration } from './watch.js';

export function registerTest<A extends unknown[], O extends OptionValues, G extends OptionValues>(program: Command<A, O, G>): void {
  program
    .command('test')
    .description("run the labs' reachability assertions (expect:) against the applied labs")
    .argument('<files...>', 'lab files or directories')
    .option('--junit <file>', 'also write the results as JUnit XML')
    .option('--tap', 'print TAP version 13 instead of the text report')
    .option('--json', 'machine-readable result')
    .option('--timeout <duration>', 'wait this long for each answer (connect, reply, ping)', '1s')
    .addHelpText(
      'after',
      '\nTCP/UDP assertions start a small responder (answering with its host name) at the destination: the host owning the\n' +
        'address, or the DNAT targets of a published port or service VIP; netlab stops it afterwards. ICMP uses ping.\n' +
        'Exit codes: 0 every assertion passed, 1 an assertion failed or could not run (lab not applied, invalid file).',
    )
    .action(async (files, o) => {
      const timeoutMs = parseDuration(o.timeout);
      const labs = await loadValidLabs(files);
      const results: LabResult[] = [];
      for (const lab of labs) {
        if (!lab.expect.length) out.warn(`${lab.file}: lab "${lab.name}" has no expect: assertions`);
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
      process.exitCode = failed ? EXIT_ERROR : EXIT_OK;
    });
}
