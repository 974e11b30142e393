/**
 * LiteLLM's proxy as a peer of karb's gateway: installed pinned from PyPI into
 * a cached venv (python-env.ts), started with a config that routes one model
 * to an OpenAI-compatible upstream, checks an API key and carries a rate limit,
 * the settings a user putting it in front of their own model would write.
 *
 * Key: LiteLLM's per-user ("virtual") keys live in its Postgres database; with
 * no database the proxy checks the one master key from the config, so that is
 * the key checked here. Rate limit: the deployment's `rpm`/`tpm` with the
 * router's pre-call checks on, so every request is counted against it; set far
 * above what two cores can reach, it never refuses. Nothing is fetched at run
 * time: the model cost map is LiteLLM's bundled copy, telemetry is off.
 *
 * Version: the newest 1.106 release. The 1.107–1.110 releases' `proxy` extra
 * pins packages that PyPI does not serve (litellm-proxy, a litellm-proxy-extras
 * build), so pip cannot install them; 1.107.0 itself was withdrawn.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { installedVersion, pythonEnv } from './python-env.ts';

export const LITELLM_REQUIREMENTS = ['litellm[proxy]==1.106.12'] as const;

export interface LiteLLMProxy {
  url: string;
  /** The process to charge CPU and memory to (with its descendants). */
  pid: number;
  version: string;
  process: ChildProcess;
  /** The proxy's stderr so far (its own log lines, for a failure report). */
  log(): string;
}

export interface LiteLLMSettings {
  /** OpenAI-compatible upstream origin, e.g. http://127.0.0.1:PORT (the proxy calls `${origin}/v1/chat/completions`). */
  upstream: string;
  /** The name clients send as `model`. */
  model: string;
  /** The key clients must send (`Authorization: Bearer …`). */
  masterKey: string;
  /** The deployment's requests per minute. */
  rpm: number;
  port: number;
  /** A scratch folder for the config. */
  dir: string;
}

/** The proxy's config file (YAML; JSON is YAML). */
export function liteLLMConfig(s: LiteLLMSettings): object {
  return {
    model_list: [
      {
        model_name: s.model,
        litellm_params: {
          model: `openai/${s.model}`,
          api_base: `${s.upstream}/v1`,
          api_key: 'upstream-needs-no-key',
          rpm: s.rpm,
          tpm: s.rpm * 1000,
        },
      },
    ],
    router_settings: { enable_pre_call_checks: true },
    litellm_settings: { telemetry: false, drop_params: true },
    general_settings: { master_key: s.masterKey },
  };
}

/** The environment the proxy runs in: quiet logs, nothing fetched at start. */
export function liteLLMEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    LITELLM_LOCAL_MODEL_COST_MAP: 'True',
    LITELLM_LOG: 'ERROR',
    LITELLM_TELEMETRY: 'False',
    LITELLM_DONT_SHOW_FEEDBACK_BOX: 'true',
    NO_DOCS: 'True',
    PYTHONUNBUFFERED: '1',
  };
}

/**
 * Installs (first time) and starts the proxy; resolves once it answers a chat completion
 * through to the upstream, or with why it could not.
 */
export async function startLiteLLM(s: LiteLLMSettings, readyTimeoutMs = 120_000): Promise<{ ok: true; proxy: LiteLLMProxy } | { ok: false; why: string }> {
  const env = pythonEnv('litellm', LITELLM_REQUIREMENTS);
  if (!env.ok) return { ok: false, why: env.why };
  mkdirSync(s.dir, { recursive: true });
  const config = join(s.dir, 'litellm.yaml');
  writeFileSync(config, JSON.stringify(liteLLMConfig(s), null, 2));
  const child = spawn(join(env.dir, 'bin', 'litellm'), ['--config', config, '--host', '127.0.0.1', '--port', String(s.port), '--num_workers', '1'], {
    env: liteLLMEnv(),
    cwd: s.dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const keep = (d: Buffer) => {
    log = (log + d.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const url = `http://127.0.0.1:${s.port}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) return { ok: false, why: `litellm exited (${child.exitCode ?? child.signalCode}) before answering: ${tail(log)}` };
    if (await answersChat(url, s.model, s.masterKey)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      return { ok: false, why: `litellm did not answer a chat completion on ${url} within ${readyTimeoutMs / 1000} s: ${tail(log)}` };
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const version = installedVersion(env, 'litellm') ?? LITELLM_REQUIREMENTS[0];
  return { ok: true, proxy: { url, pid: child.pid!, version, process: child, log: () => log } };
}

async function answersChat(url: string, model: string, key: string): Promise<boolean> {
  try {
    const r = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'ready?' }] }),
      signal: AbortSignal.timeout(5_000),
    });
    await r.arrayBuffer();
    return r.status === 200;
  } catch {
    return false;
  }
}

function tail(text: string, n = 8): string {
  return text.trim().split('\n').slice(-n).join(' | ');
}
