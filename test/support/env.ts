/** What the global setup tells every test file about the cluster under test. */
export interface KubeTestEnv {
  /** Path of a kubeconfig with contexts `admin` and `viewer`. */
  kubeconfig: string;
  /** True when the cluster is the local control plane of this checkout (it can be restarted, compacted, …). */
  local: boolean;
  /** The version the local control plane was built at. */
  pinnedVersion?: string;
  /** `gitVersion` reported by the server. */
  serverVersion?: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    kube: KubeTestEnv;
  }
}
