/**
 * A worked example: testing the example operator (examples/support/widget-operator.ts)
 * with kubereflect-testing, as a team would test its own — a control plane
 * of the test's own, the operator's CRD installed, the operator talking to
 * the apiserver through a fault proxy. It checks that the operator
 * converges, that a deleted child comes back, that the finalizer's cleanup
 * runs once, and that it converges again after the proxy cuts its watches.
 *
 * In a project of your own, import from 'kubereflect-testing' (here the
 * package's source, testing/index.ts) and run it with vitest.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigMap } from '../../generated/core/v1/configmap.ts';
import { silentLogger } from '../../runtime/index.ts';
import { type ControlPlane, converged, freshNamespace, installCrds, startControlPlane, waitFor } from '../../testing/index.ts';
import { Widget } from '../generated/demo.kubereflect.dev/v1/widget.ts';
import { ExternalRecords, widgetOperator } from '../support/widget-operator.ts';

let plane: ControlPlane;
beforeAll(async () => {
  plane = await startControlPlane({ log: () => {} });
  await installCrds(plane.client(), [join(import.meta.dirname, '..', 'crds', 'widget.yaml')]);
}, 120_000);
afterAll(() => plane?.stop());

describe('the widget operator', () => {
  it('converges, brings a deleted child back, cleans up once, and converges again after its watches are cut', async () => {
    const admin = plane.client();
    const ns = await freshNamespace(admin, 'widgets');
    const proxy = await plane.proxy();
    const records = new ExternalRecords();
    const op = widgetOperator(proxy.client(), ns, { records, logger: silentLogger });
    const running = op.controller.run(op.reconcile);
    const widgets = Widget.api(admin, ns);
    const configMaps = ConfigMap.api(admin, ns);
    const colorOf = async (name: string) => (await configMaps.getIfExists(`${name}-widget`))?.data?.color;

    // Converges.
    await widgets.create({ metadata: { name: 'gear' }, spec: { color: 'red', size: 3 } });
    await widgets.create({ metadata: { name: 'cog' }, spec: { color: 'green', size: 1 } });
    await waitFor('both ConfigMaps', async () => (await colorOf('gear')) === 'red' && (await colorOf('cog')) === 'green');

    // A deleted child comes back.
    const before = await configMaps.get('gear-widget');
    await configMaps.delete('gear-widget');
    await waitFor('gear-widget to be re-created', async () => {
      const again = await configMaps.getIfExists('gear-widget');
      return again !== undefined && again.metadata?.uid !== before.metadata?.uid;
    });

    // The finalizer's cleanup runs once, and the Widget goes.
    const cog = await widgets.get('cog');
    await widgets.delete('cog');
    await waitFor('cog to go', async () => (await widgets.getIfExists('cog')) === undefined);
    expect(records.removals.filter((r) => r.endsWith(`@${cog.metadata?.uid}`))).toHaveLength(1);

    // Its watches cut while it works: it converges anyway.
    proxy.cutAll();
    await widgets.patch('gear', { type: 'merge', body: { spec: { color: 'blue' } } });
    proxy.cutAll();
    await converged(op.controller.reader, widgets);
    await waitFor('gear-widget to follow the change', async () => (await colorOf('gear')) === 'blue');

    await op.controller.shutdown({ deadlineMs: 5_000 });
    await running;
    op.recorder.close();
  }, 120_000);
});
