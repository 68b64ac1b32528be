/** Helpers for integration tests: kubeconfigs per context and a fresh namespace per test. */
import { randomBytes } from 'node:crypto';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { inject } from 'vitest';
import './env.ts';

/** The test cluster's kubeconfig, switched to `context`. */
export function kubeConfig(context: 'admin' | 'viewer' | 'cert-admin' = 'admin'): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(inject('kube').kubeconfig);
  kc.setCurrentContext(context);
  return kc;
}

/**
 * Creates a namespace with a random suffix and returns its name. Namespaces are
 * never deleted by the tests: without a controller-manager, deletion never finishes.
 */
export async function testNamespace(prefix = 'test'): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await kubeConfig()
    .makeApiClient(CoreV1Api)
    .createNamespace({ body: { metadata: { name, labels: { 'kubereflect.dev/test': 'true' } } } });
  return name;
}
