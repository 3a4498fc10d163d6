// Commands for working with labs (issue 8): exec, shell, inspect, graph, test, completion.
import type { Command, OptionValues } from '@commander-js/extra-typings';
import { registerCompletion } from './completion.js';
import { registerGraph } from './graph.js';
import { registerLabCommands } from './labcmds.js';
import { registerTest } from './test.js';

export function registerWorkCommands<A extends unknown[], O extends OptionValues, G extends OptionValues>(program: Command<A, O, G>): void {
  registerLabCommands(program);
  registerGraph(program);
  registerTest(program);
  registerCompletion(program);
}
