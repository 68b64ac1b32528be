// The operator under test: for each Gadget, a ConfigMap it owns holding its color.
import { Action, Api, type Client, Controller, type KubeObject, ownerReference } from 'kubereflect';
import { ConfigMap } from 'kubereflect/generated/core/v1/configmap';

export interface Gadget extends KubeObject {
  spec?: { color?: string };
}

export const GADGETS = { group: 'kit.example.com', version: 'v1', kind: 'Gadget', plural: 'gadgets', namespaced: true } as const;

export function gadgetOperator(client: Client, namespace: string) {
  const gadgets = new Api<Gadget>(client, GADGETS, namespace);
  const controller = new Controller(gadgets).owns(ConfigMap.api(client, namespace));
  const run = () =>
    controller.run(async (gadget, ctx) => {
      const name = `${gadget.metadata.name}-color`;
      const body = {
        apiVersion: 'v1' as const,
        kind: 'ConfigMap' as const,
        metadata: { name, ownerReferences: [ownerReference({ resource: GADGETS }, gadget)] },
        data: { color: gadget.spec?.color ?? '' },
      };
      await ctx
        .track(ConfigMap.api(client, namespace))
        .patch(name, { type: 'apply', body, force: true }, { fieldManager: 'gadget-operator', signal: ctx.signal });
      return Action.awaitChange();
    });
  return { controller, gadgets, run };
}
