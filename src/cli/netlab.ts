#!/usr/bin/env node
// Entry point. Checks the Node version before loading anything that needs a newer one.
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  process.stderr.write(
    `netlab needs Node.js >= 20.19 (this is ${process.versions.node}).\n` +
      `Debian 12's own nodejs is 18; install a current Node, e.g. from NodeSource or with nvm, then run netlab again.\n`,
  );
  process.exit(1);
}
// A running `netlab serve` takes the command if it can (see client.ts); else it runs here.
const { delegate } = await import('./client.js');
const served = await delegate(process.argv);
if (served === null) {
  const { main } = await import('./main.js');
  await main(process.argv);
} else process.exitCode = served;
