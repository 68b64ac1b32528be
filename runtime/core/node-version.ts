/**
 * The Node.js floor, checked first by every entry point: undici 8, which
 * @kubernetes/client-node 2.x uses, needs Node.js 22.19 or newer, and on an
 * older Node it fails deep inside its own code (`Cannot read properties of
 * undefined (reading 'bind')`). Importing kubereflect there throws this
 * instead, naming both versions. Imported for its effect only; it imports
 * nothing, so it runs before any dependency loads.
 */

/** The oldest Node.js the runtime loads on, as [major, minor]. */
export const NODE_FLOOR = [22, 19] as const;

/** The message for a Node.js older than the floor, or undefined when `version` (as in `process.versions.node`) is new enough. */
export function nodeTooOld(version: string): string | undefined {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const [floorMajor, floorMinor] = NODE_FLOOR;
  if (major > floorMajor || (major === floorMajor && minor >= floorMinor)) return undefined;
  return `kubereflect needs Node.js ${floorMajor}.${floorMinor} or newer; this is Node.js v${version} (undici 8, which @kubernetes/client-node uses, cannot load on it)`;
}

const tooOld = typeof process === 'object' && process.versions?.node ? nodeTooOld(process.versions.node) : undefined;
if (tooOld) throw new Error(tooOld);
