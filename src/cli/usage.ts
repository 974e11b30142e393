/**
 * A command that could not do its work exits 1 (a usage error, UsageError in
 * src/errors.ts, exits 2). Both print one clear line, never a stack trace.
 */
export class CliError extends Error {
  readonly exitCode = 1;
}

export const HELP = `karb — declare a model with its SLO once; karb serves, scales, rolls it out and shows it.

Usage: karb <command> [flags]

Commands:
  up                      start the embedded platform (control plane and dashboard :8081, gateway :8080)
  apply -f FILE|DIR|-     create or update services from YAML or JSON
  get services [NAME]     list services (alias: svc)
  get revisions NAME      a service's revisions
  get replicas [NAME]     running replicas
  get events              recent events
  delete NAME | -f FILE   delete services
  rollout status|promote|abort|pause|resume NAME
                          watch or steer a canary or blue-green rollout
  keys create|list|revoke gateway API keys (create prints the key once)
  tokens create|list|revoke
                          people's control-plane tokens: viewer, deployer or admin (create prints it once)
  audit [--limit N]       who changed what on the control plane, and refused calls
  gateway                 a standalone gateway fed by a control plane (--redis to share limits)
  controller              reconcile InferenceServices on a Kubernetes cluster (--kubeconfig, --leader-elect)
  serve --model FILE      run the built-in ONNX model server (one replica)
  reserve                 a capacity reservation's placeholder pod: waits for SIGTERM, exits 0
  load --model NAME       open-loop traffic: constant, step, burst, ramp, sine, CSV replay
  simulate                the KARB evaluation plan: scaling policies on a simulated cluster
  install                 print what installs karb on a cluster (karb install | kubectl apply -f -)
  render -f F --out DIR   write services as Kubernetes manifests: a Kustomize base and overlays
                          (--prometheus DIR: their SLOs' recording rules and burn-rate alerts)
  version                 print the version

Common flags:
  -o, --output table|yaml|json   output format (default table)
  -n, --namespace NS             namespace (default: any for get, the manifest's for apply)
  --server URL                   control plane URL (default $KARB_SERVER or http://127.0.0.1:8081)
  --token T                      control-plane token (default $KARB_TOKEN or .karb/admin-token)

Run 'karb <command> --help' for the flags of one command.
`;
