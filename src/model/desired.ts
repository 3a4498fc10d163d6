// A lab's desired state: every object it should own, in the shapes observation produces.
import type { Lab } from '../lab/types.js';
import type { State } from './objects.js';
import { desiredOf } from './registry.js';

export function desiredState(lab: Lab): State {
  return desiredOf(lab);
}
