// The same test with node:test: the operator against a real kube-apiserver, its watches cut by the fault proxy.
import { ConfigMap } from 'kubereflect/generated/core/v1/configmap';
import { converged, freshNamespace, installCrds, startControlPlane, waitFor, type ControlPlane } from 'kubereflect-testing';
import { strict as assert } from 'node:assert';
import { after, before, test } from 'node:test';
import { gadgetOperator } from './operator.ts';

let plane: ControlPlane;
before(async () => {
  plane = await startControlPlane();
  await installCrds(plane.client(), ['gadget-crd.yaml']);
});
after(() => plane?.stop());

test('converges, and again after its watches are cut', { timeout: 120_000 }, async () => {
  const admin = plane.client();
  const ns = await freshNamespace(admin);
  const proxy = await plane.proxy();
  const op = gadgetOperator(proxy.client(), ns);
  const running = op.run();
  const gadgets = gadgetOperator(admin, ns).gadgets;
  await gadgets.create({ apiVersion: 'kit.example.com/v1', kind: 'Gadget', metadata: { name: 'g1' }, spec: { color: 'red' } });
  await waitFor('the ConfigMap of g1', async () => (await ConfigMap.api(admin, ns).getIfExists('g1-color'))?.data?.color === 'red');
  proxy.cutAll(); // every watch the operator has open ends mid-stream
  await gadgets.patch('g1', { type: 'merge', body: { spec: { color: 'blue' } } });
  await gadgets.create({ apiVersion: 'kit.example.com/v1', kind: 'Gadget', metadata: { name: 'g2' }, spec: { color: 'green' } });
  proxy.cutAll();
  await converged(op.controller.reader, gadgets);
  await waitFor('the ConfigMaps to follow', async () => {
    const data = (await ConfigMap.api(admin, ns).list()).items.map((c) => `${c.metadata?.name}=${c.data?.color}`).sort();
    return data.join(' ') === 'g1-color=blue g2-color=green';
  });
  await op.controller.shutdown();
  await running;
  assert.equal(op.controller.stats().failures, 0);
});
