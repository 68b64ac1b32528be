/**
 * Starts (or reuses) the local control plane once for the whole test run and
 * stops it afterwards if this run started it. With KUBEREFLECT_TEST_KUBECONFIG
 * set, the tests use that cluster instead and nothing is started.
 */
import { resolve } from 'node:path';
import { KubeConfig, VersionApi } from '@kubernetes/client-node';
import type { TestProject } from 'vitest/node';
import { up, usePlane } from '../controlplane/plane.ts';
import type { KubeTestEnv } from './env.ts';

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  const external = process.env.KUBEREFLECT_TEST_KUBECONFIG;
  let env: KubeTestEnv;
  let started = false;
  let release: (() => Promise<void>) | undefined;
  if (external) {
    env = { kubeconfig: resolve(external), local: false };
  } else {
    const result = await up();
    started = result.started;
    release = usePlane(started);
    env = { kubeconfig: result.state.kubeconfig, local: true, pinnedVersion: result.state.version };
  }
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubeconfig);
  const version = await kc.makeApiClient(VersionApi).getCode();
  env.serverVersion = version.gitVersion;
  console.log(
    `integration tests run against kube-apiserver ${version.gitVersion} at ${kc.getCurrentCluster()?.server}` +
      (env.local ? ` (local control plane, ${started ? 'started for this run' : 'already running'})` : ' (KUBEREFLECT_TEST_KUBECONFIG)') +
      `; tests on Node ${process.version}`,
  );
  project.provide('kube', env);
  if (release) return release;
}
