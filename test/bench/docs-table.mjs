// Puts the bench's results into docs/performance.md between its markers, so the page always
// shows the latest run while the prose around the table stays as written.
export const BEGIN = '<!-- bench:begin';
export const END = '<!-- bench:end -->';

/** The page with everything between the begin marker's line and the end marker replaced by table. */
export function replaceBetweenMarkers(page, table) {
  const start = page.indexOf(BEGIN);
  const end = page.indexOf(END);
  if (start < 0 || end < start) throw new Error(`no ${BEGIN} ... ${END} markers to write the results between`);
  const afterBegin = page.indexOf('\n', start) + 1;
  return `${page.slice(0, afterBegin)}${table.trim()}\n${page.slice(end)}`;
}
