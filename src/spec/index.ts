// The spec layer's public API: load lab files into the normalised model, or say precisely why not.
export { checkAcrossLabs } from './across.js';
export { loadLabs, loadLabText, type LoadResult } from './load.js';
export { nsKey } from './normalise.js';
export { labSchema } from './schema.js';
