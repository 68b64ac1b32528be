/**
 * Generated code is never an injection path. The hostile CRD (descriptions
 * with `*\/`, backticks, `${`, `{{`, line separators; properties named
 * `__proto__`, `constructor`, `a-b`, `"quoted"`, `123`, reserved words; a
 * `Pod` outside the core group and an `Index` kind) generates code that
 * compiles (the generator type-checks it, and `tsc` checks the committed copy
 * in `test/generator/generated/`), exports nothing it should not, and
 * round-trips objects with those fields through pruning and the store.
 */
import { describe, expect, it } from 'vitest';
import { coreV1 } from '../../generated/index.ts';
import { hostileV1, fixturesV1 } from './generated/index.ts';
import * as hostilePod from './generated/hostile.kubereflect.dev/v1/pod.ts';
import { Pod as EvilPod } from './generated/hostile.kubereflect.dev/v1/pod.ts';
import { store } from '../../runtime/cache.ts';
import { readTree, ROOT } from './helpers.ts';
import { join } from 'node:path';
import ts from 'typescript';

const wire = `{
  "apiVersion": "hostile.kubereflect.dev/v1", "kind": "Pod",
  "metadata": { "name": "evil", "namespace": "ns", "uid": "u", "resourceVersion": "1", "annotations": { "a": "b" } },
  "spec": {
    "__proto__": "not a prototype", "toString": 7, "a-b": "dash", "\\"quoted\\"": "q", "123": "num",
    "class": "c", "delete": true, "\${x}": "*/", "*/": "close",
    "nested": { "__proto__": { "polluted": true }, "back\`tick": "b" }
  },
  "status": { "hasOwnProperty": "h", "valueOf": "v" }
}`;

describe('the hostile CRD', () => {
  it('exports only what a kind module exports', () => {
    expect(Object.keys(hostilePod).sort()).toEqual(['Pod']);
    const files = readTree(join(ROOT, 'test/generator/generated'));
    for (const [path, text] of files) {
      const sf = ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, true);
      const exported = sf.statements
        .filter((s) => ts.canHaveModifiers(s) && ts.getModifiers(s)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword))
        .map((s) => (s as ts.DeclarationStatement).name?.getText() ?? (ts.isVariableStatement(s) ? s.declarationList.declarations[0]!.name.getText() : ''));
      expect(
        exported.filter((n) => /pwned/.test(n)),
        path,
      ).toEqual([]);
      expect(text, path).not.toMatch(/^\s*export const pwned/m);
      expect(text, path).not.toMatch(/\u2028|\u2029/);
    }
  });

  it('keeps descriptions inside their comments', () => {
    const text = readTree(join(ROOT, 'test/generator/generated')).get('hostile.kubereflect.dev/v1/pod.ts')!;
    expect(text).toContain('Ends a comment *\\/ then runs code');
    expect(text).toContain('/** *\\/ export const pwned = true; /* */');
  });

  it('lives side by side with the core Pod', () => {
    expect(hostileV1.Pod.resource.group).toBe('hostile.kubereflect.dev');
    expect(coreV1.Pod.resource.group).toBe('');
    expect(hostileV1.Index.resource.plural).toBe('indices');
    expect(fixturesV1.Widget.apiVersion).toBe('fixtures.kubereflect.dev/v1');
  });

  it('round-trips objects with hostile field names through prune, keep and the store', () => {
    const obj = JSON.parse(wire) as EvilPod;
    const pruned = EvilPod.prune({ metadata: { annotations: true }, spec: { class: true } })(obj);
    const spec = pruned.spec as Record<string, unknown>;
    expect(Object.getPrototypeOf(spec)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(spec, '__proto__')?.value).toBe('not a prototype');
    expect(Object.hasOwn(spec, 'constructor')).toBe(false); // absent in the input: not copied from Object.prototype
    expect(spec.toString).toBe(7);
    expect(spec['a-b']).toBe('dash');
    expect(spec['"quoted"']).toBe('q');
    expect(spec['123']).toBe('num');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a field literally named ${x}, from the hostile CRD.
    expect(spec['${x}']).toBe('*/');
    expect(Object.hasOwn(spec, 'class')).toBe(false);
    expect(spec.nested).toBe(obj.spec?.nested);
    expect(Object.hasOwn(pruned.metadata!, 'annotations')).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();

    const kept = EvilPod.keep({ spec: { ['__proto__']: true, delete: true }, status: { hasOwnProperty: true } })(obj);
    expect(Object.getOwnPropertyNames(kept.spec)).toEqual(['__proto__', 'delete']);
    expect(Object.getPrototypeOf(kept.spec)).toBe(Object.prototype);
    expect(Object.getOwnPropertyNames(kept.status)).toEqual(['hasOwnProperty']);
    expect(kept.metadata).toEqual({ name: 'evil', namespace: 'ns', uid: 'u', resourceVersion: '1' });

    const { reader, writer } = store<typeof kept>();
    writer.applyEvent({ type: 'Apply', object: kept });
    const stored = reader.get(EvilPod.ref('evil', 'ns'));
    expect(stored).toBe(kept);
    expect(JSON.parse(JSON.stringify(stored))).toEqual({
      apiVersion: 'hostile.kubereflect.dev/v1',
      kind: 'Pod',
      metadata: { name: 'evil', namespace: 'ns', uid: 'u', resourceVersion: '1' },
      spec: { ['__proto__']: 'not a prototype', delete: true },
      status: { hasOwnProperty: 'h' },
    });
  });
});
