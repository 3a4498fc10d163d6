// The custom formats the schema names (schemas/lab.schema.json), implemented with the same
// parsers the semantic layer uses, so the two can never disagree. Also imported by the
// precompiled validator (see schema-compile.ts).
import { isUnicastMac, parseCidr, parseEndpoint, parseIp, parseMatch, parsePortRange } from './addr.js';
import { parseDuration, parsePercent, parseRate, parseSize } from './units.js';

export const FORMATS: Record<string, (value: string) => boolean> = {
  'ip-address': (v) => parseIp(v) !== null,
  cidr: (v) => parseCidr(v) !== null,
  'route-to': (v) => v === 'default' || parseCidr(v) !== null,
  mac: isUnicastMac,
  'port-range': (v) => parsePortRange(v) !== null,
  endpoint: (v) => parseEndpoint(v) !== null,
  'host-or-cidr': (v) => parseMatch(v) !== null,
  'address-or-cidr': (v) => parseCidr(v) !== null || parseIp(v) !== null,
  'mac-ref': (v) => /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(v) || /^[a-z][a-z0-9-]{0,31}:[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(v),
  rate: (v) => parseRate(v) !== null,
  size: (v) => parseSize(v) !== null,
  duration: (v) => parseDuration(v) !== null,
  percent: (v) => parsePercent(v) !== null,
};

/** The formats as ajv format definitions (the shape the compiled code calls: `.validate(v)`). */
export const FORMAT_DEFS: Record<string, { type: 'string'; validate: (value: string) => boolean }> = Object.fromEntries(
  Object.entries(FORMATS).map(([name, validate]) => [name, { type: 'string' as const, validate }]),
);
