// The lab language's public API: load lab files into the normalised model, or say precisely why not.
export { checkAcrossLabs } from './across.js';
export { loadLabText } from './check.js';
export { loadLabs, type LoadResult } from './load.js';
export { nsKey } from './normalise.js';
export { labSchema } from './schema.js';
