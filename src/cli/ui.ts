// `netlab ui [LAB...] [--listen ADDRESS:PORT] [--read-only]`: the applied labs, live, in a browser
// (the server is src/ui/). Loopback unless --listen names another address; the access token is
// printed in the URL. Runs until SIGINT/SIGTERM.
import { UsageError } from '../errors.js';
import { LAB_NAME_PATTERN } from '../lab/names.js';
import { Monitor } from '../ui/monitor.js';
import { DEFAULT_LISTEN, newToken, parseListen } from '../ui/security.js';
import { startUiServer } from '../ui/server.js';
import { out } from './output.js';

export async function ui(labs: string[], o: { listen?: string; readOnly?: boolean }): Promise<void> {
  for (const l of labs) if (!LAB_NAME_PATTERN.test(l)) throw new UsageError(`"${l}" is not a lab name`);
  const listen = parseListen(o.listen ?? DEFAULT_LISTEN);
  const monitor = new Monitor(labs);
  await monitor.start();
  const s = await startUiServer(monitor, { listen, token: newToken(), readOnly: Boolean(o.readOnly) });
  const shown = labs.length ? labs.join(', ') : 'every applied lab';
  // The URL goes to stdout even with --quiet: it is what the command is for.
  process.stdout.write(`${s.url}\n`);
  out.info(
    `netlab ui: ${shown}${o.readOnly ? ' (read-only)' : ''}; ${listen.loopback ? 'loopback only' : 'reachable from the network: share the URL with care'}; Ctrl-C stops it`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop).once('SIGTERM', stop);
  });
  await s.close();
}
