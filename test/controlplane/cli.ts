/**
 * `npm run cluster -- up [--feature-gates A=true,B=false]|down|status|openapi <dir>`:
 * the local control plane (kube-apiserver + etcd on loopback) that the
 * integration tests and the demo use. KUBEREFLECT_CONTROLPLANE picks a
 * compatibility plane (e.g. `v1.35`).
 */
import { parseArgs } from 'node:util';
import { down, saveOpenApi, status, up, type PlaneState } from './plane.ts';

function describe(state: PlaneState): string {
  return [
    `kube-apiserver ${state.version}  ${state.apiserverUrl}  (pid ${state.apiserver.pid})`,
    ...(state.featureGates ? [`feature gates  ${state.featureGates}`] : []),
    `etcd           ${state.etcdUrl}  (pid ${state.etcd.pid})`,
    `kubeconfig     ${state.kubeconfig}   contexts: admin (current), viewer, cert-admin`,
    `CA certificate ${state.caCert}`,
    `logs           ${state.apiserver.log}`,
    '',
    `try: kubectl --kubeconfig ${state.kubeconfig} get namespaces`,
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'up': {
      const { values } = parseArgs({ args: rest, options: { 'feature-gates': { type: 'string' } }, strict: true });
      const { state, started } = await up({ featureGates: values['feature-gates'] });
      console.log(started ? 'started the local control plane' : 'reusing the running local control plane');
      console.log(describe(state));
      return 0;
    }
    case 'down': {
      console.log((await down()) ? 'stopped the local control plane and removed its data' : 'no local control plane was running');
      return 0;
    }
    case 'status': {
      const { state, healthy } = await status();
      if (!state) console.log('not running');
      else console.log(`${healthy ? 'running' : 'NOT HEALTHY (run `up` to clean it up and start again)'}, since ${state.startedAt}\n${describe(state)}`);
      return state && healthy ? 0 : 1;
    }
    case 'openapi': {
      const dir = rest[0];
      if (!dir) throw new Error('usage: npm run cluster -- openapi <dir>');
      const { state, healthy } = await status();
      if (!state || !healthy) throw new Error('the local control plane is not running: npm run cluster -- up');
      const n = await saveOpenApi(state, dir);
      console.log(`saved /openapi/v3 (${n} group-versions) and /openapi/v2 into ${dir}`);
      return 0;
    }
    default:
      console.error('usage: npm run cluster -- up [--feature-gates Name=true,…] | down | status | openapi <dir>');
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`error: ${err.message}`);
    process.exit(1);
  },
);
