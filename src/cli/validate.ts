// `netlab validate` and `netlab schema`: lab files only, no kernel.
import { EXIT_ERROR, EXIT_OK, LabError } from '../errors.js';
import { checkLabs } from '../lab/load.js';
import { readLabSchema } from '../lab/schema-source.js';
import { expandInputs } from './labs.js';
import { issuesJson, out, printError } from './output.js';
import { counted } from '../words.js';

export async function validate(files: string[], o: { json?: boolean }): Promise<number> {
  const { labs, issues } = await checkLabs(await expandInputs(files));
  if (o.json)
    out.json({
      valid: issues.length === 0,
      labs: labs.map((l) => ({ name: l.name, file: l.file, hosts: l.hosts })),
      issues: issuesJson(issues),
      issueCount: issues.length,
    });
  else if (issues.length) printError(new LabError(issues));
  else for (const l of labs) out.line(`${l.file}: lab "${l.name}" is valid (${counted(l.hosts, 'host')})`);
  return issues.length ? EXIT_ERROR : EXIT_OK;
}

export function schema(): void {
  out.json(readLabSchema());
}
