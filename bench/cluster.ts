/**
 * The cluster a benchmark run talks to: `$BENCH_KUBECONFIG`, or the local
 * control plane (started if needed, and released when the run is done).
 */
import { up, usePlane } from '../test/controlplane/plane.ts';

export async function benchCluster(): Promise<{ kubeconfig: string; release: () => Promise<void> }> {
  const given = process.env.BENCH_KUBECONFIG;
  if (given) return { kubeconfig: given, release: async () => {} };
  const { state } = await up();
  return { kubeconfig: state.kubeconfig, release: usePlane(false) };
}
