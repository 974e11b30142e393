/**
 * The model servers users would run instead of `karb serve`, pinned: KServe's
 * Python model server and Ray Serve, each with ONNX Runtime, each in its own
 * cached venv (bench/peers/python-env.ts). Kept apart from the benchmark so the
 * pins are read in one place and the venvs can be made ahead of a run.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pythonEnv, type PythonEnv } from './python-env.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export interface ModelServerPeer {
  /** Name in tables and JSON. */
  name: 'kserve' | 'ray-serve';
  /** Venv folder name under the peers' cache. */
  env: string;
  requirements: readonly string[];
  /** The packages whose versions the results name. */
  versionOf: readonly string[];
  /** The Python file that serves a model over OIP v2 REST. */
  script: string;
}

export const MODEL_SERVER_PEERS: readonly ModelServerPeer[] = [
  {
    name: 'kserve',
    env: 'kserve',
    requirements: ['kserve==0.21.0', 'onnxruntime==1.31.1'],
    versionOf: ['kserve', 'onnxruntime', 'uvicorn', 'fastapi'],
    script: path.join(HERE, 'kserve-model-server.py'),
  },
  {
    name: 'ray-serve',
    env: 'ray-serve',
    requirements: ['ray[serve]==2.60.0', 'onnxruntime==1.31.1'],
    versionOf: ['ray', 'onnxruntime', 'uvicorn', 'fastapi'],
    script: path.join(HERE, 'ray-serve-model-server.py'),
  },
];

/** The peer's venv, installed on first use. */
export function peerEnv(peer: ModelServerPeer): PythonEnv {
  return pythonEnv(peer.env, peer.requirements);
}

// `node bench/peers/model-server-peers.ts` makes both venvs ahead of a benchmark run.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const peer of MODEL_SERVER_PEERS) {
    const env = peerEnv(peer);
    process.stdout.write(`${peer.name}: ${env.ok ? env.python : `cannot be installed: ${env.why}`}\n`);
  }
}
