/**
 * Stage 3 of the generator: give every kind and every schema a home and a
 * name. A kind lives in `<group>/<version>/<kind>.ts` (`core` for the core
 * group); a shared definition lives in the `types.ts` of the group-version
 * its Go package serves (`io.k8s.api.apps.v1.DeploymentSpec` →
 * `apps/v1/types.ts`), and the apimachinery packages (`ObjectMeta`,
 * `Quantity`, …) in `meta/v1/types.ts`. Names are unique per group-version,
 * kinds first, each with the names its module adds (`PodMeta`, `PodApi`,
 * `PodMethods`), so every module can be re-exported from its index; kinds
 * whose names collide in different groups live side by side in their own
 * folders.
 */
import { GenerateError } from '../errors.ts';
import { isHoisted } from './hoist.ts';
import { isObject } from '../input/load.ts';
import { compare, type KindModel, type Model } from './model.ts';
import { camelGroup, groupFolder, NameScope, toIdentifier, versionFolder } from './names.ts';

/** Where a schema is declared. */
export interface Placed {
  /** Folder relative to the output root, e.g. `core/v1`. */
  dir: string;
  /** Module file name without `.ts`: `types`, or a kind's file. */
  file: string;
  /** The exported name. */
  name: string;
}

/** A kind with its module and the names it exports. */
export interface PlacedKind extends KindModel, Placed {
  /** `apiVersion`: `v1`, `apps/v1`. */
  apiVersion: string;
  /** `PodMeta`: the metadata-only type. */
  metaName: string;
  /** `PodApi`: the typed Api. */
  apiName: string;
  /** `PodMethods`: the union of the Api's method names, which the Api type and the kind value share. */
  methodsName: string;
}

/** One group-version folder. */
export interface GroupVersion {
  dir: string;
  /** The namespace the root index exports it under, e.g. `appsV1`. */
  alias: string;
  kinds: PlacedKind[];
  /** Ids of the definitions its `types.ts` declares, sorted. */
  definitions: string[];
}

export interface Placement {
  kinds: PlacedKind[];
  /** Every schema id (kinds' and definitions') → where it is declared. */
  symbols: Map<string, Placed>;
  /** Sorted by folder. */
  groupVersions: GroupVersion[];
}

/** Folder for the apimachinery packages. */
const META_DIR = 'meta/v1';
const RESERVED_FILES = new Set(['index', 'types']);

/** Places the model's kinds and schemas. */
export function place(model: Model): Placement {
  const scopes = new Map<string, NameScope>();
  const scope = (dir: string) => {
    let s = scopes.get(dir);
    if (!s) scopes.set(dir, (s = new NameScope()));
    return s;
  };
  const symbols = new Map<string, Placed>();
  const files = new Map<string, Set<string>>();
  const kinds: PlacedKind[] = [];

  for (const k of model.kinds) {
    let dir: string;
    try {
      dir = `${groupFolder(k.group)}/${versionFolder(k.version)}`;
    } catch (err) {
      throw new GenerateError((err as Error).message, k.origin);
    }
    const names = scope(dir);
    const name = names.unique(k.kind);
    let taken = files.get(dir);
    if (!taken) files.set(dir, (taken = new Set(RESERVED_FILES)));
    const file = fileName(k.kind, taken);
    const placed: PlacedKind = {
      ...k,
      dir,
      file,
      name,
      apiVersion: k.group ? `${k.group}/${k.version}` : k.version,
      metaName: names.unique(`${name}Meta`),
      apiName: names.unique(`${name}Api`),
      methodsName: names.unique(`${name}Methods`),
    };
    kinds.push(placed);
    if (!symbols.has(k.schemaId)) symbols.set(k.schemaId, { dir, file, name });
  }

  const packageDirs = packageFolders(model);
  const definitionsByDir = new Map<string, string[]>();
  for (const [id, entry] of model.schemas) {
    if (symbols.has(id)) continue;
    // A named nested schema lives next to the kind or definition it was first found in.
    const dir = isHoisted(entry) ? symbols.get(entry.near)!.dir : (packageDirs.get(packageOf(id)) ?? miscFolder(id));
    const name = scope(dir).unique(isHoisted(entry) ? entry.name : id.slice(id.lastIndexOf('.') + 1));
    symbols.set(id, { dir, file: 'types', name });
    definitionsByDir.set(dir, [...(definitionsByDir.get(dir) ?? []), id]);
  }

  const dirs = [...new Set([...kinds.map((k) => k.dir), ...definitionsByDir.keys()])].sort(compare);
  const aliases = aliasesOf(dirs);
  const groupVersions = dirs.map((dir) => ({
    dir,
    alias: aliases.get(dir)!,
    kinds: kinds.filter((k) => k.dir === dir),
    definitions: (definitionsByDir.get(dir) ?? []).sort(compare),
  }));
  return { kinds, symbols, groupVersions };
}

/**
 * A kind's file name: the kind in lower case (`replicaset`); `-kind` after a
 * name the folder's own modules use (`index-kind`), and `-2`, `-3`… after a
 * name taken by another kind of the folder.
 */
function fileName(kind: string, taken: Set<string>): string {
  let base = kind.toLowerCase().replace(/[^a-z0-9]/g, '') || 'kind';
  if (RESERVED_FILES.has(base)) base = `${base}-kind`;
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
  taken.add(name);
  return name;
}

function packageOf(id: string): string {
  return id.slice(0, id.lastIndexOf('.'));
}

/**
 * The folder of each Go package: apimachinery → `meta/v1`; a package whose
 * schemas name one group-version in `x-kubernetes-group-version-kind` → that
 * group-version; `io.k8s.api.<g>.<v>` → `<g>/<v>`.
 */
function packageFolders(model: Model): Map<string, string> {
  const seen = new Map<string, Set<string>>();
  for (const [id, entry] of model.schemas) {
    if (isHoisted(entry)) continue;
    const schema = entry.schema;
    const gvks = schema['x-kubernetes-group-version-kind'];
    if (!Array.isArray(gvks)) continue;
    for (const g of gvks) {
      if (!isObject(g) || typeof g.version !== 'string') continue;
      const pkg = packageOf(id);
      const set = seen.get(pkg) ?? new Set();
      try {
        set.add(`${groupFolder(String(g.group ?? ''))}/${versionFolder(g.version)}`);
      } catch {
        continue;
      }
      seen.set(pkg, set);
    }
  }
  const out = new Map<string, string>();
  for (const [id, entry] of model.schemas) {
    if (isHoisted(entry)) continue;
    const pkg = packageOf(id);
    if (out.has(pkg)) continue;
    if (pkg.startsWith('io.k8s.apimachinery.')) out.set(pkg, META_DIR);
    else if (seen.get(pkg)?.size === 1) out.set(pkg, [...seen.get(pkg)!][0]!);
    else {
      const m = /^io\.k8s\.api\.([a-z0-9]+)\.(v[a-z0-9]+)$/.exec(pkg);
      if (m) out.set(pkg, `${m[1]}/${m[2]}`);
    }
  }
  return out;
}

/** A folder for a schema of an unknown package: `misc/<package>`. */
function miscFolder(id: string): string {
  const pkg =
    packageOf(id)
      .toLowerCase()
      .replace(/[^a-z0-9.-]/g, '-')
      .replace(/^[.-]+|[.-]+$/g, '') || 'default';
  return `misc/${pkg}`;
}

/**
 * Root-index namespace names: the group's first label and the version
 * (`appsV1`, `networkingV1`); where two folders would share one, both use
 * every label (`networkingK8sIoV1`, `networkingIstioIoV1`).
 */
function aliasesOf(dirs: string[]): Map<string, string> {
  const short = (dir: string, full: boolean) => {
    const [group, version] = dir.split('/') as [string, string];
    const labels = group.split('.');
    const base = camelGroup(full ? labels : [labels[0]!]);
    return toIdentifier(`${base}${version.charAt(0).toUpperCase()}${version.slice(1)}`);
  };
  const counts = new Map<string, number>();
  for (const d of dirs) counts.set(short(d, false), (counts.get(short(d, false)) ?? 0) + 1);
  const scope = new NameScope(['allNamespaces']);
  return new Map(dirs.map((d) => [d, scope.unique(counts.get(short(d, false))! > 1 ? short(d, true) : short(d, false))]));
}
