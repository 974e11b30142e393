/**
 * Governance in embedded karb's admission: the InferenceService policies of policies.ts,
 * evaluated on the spec as stored (defaults applied, as the API server evaluates it after
 * defaulting) and on the stored version as `oldObject`. With action Deny a failed policy refuses
 * the apply (422 naming the field); with Warn it is admitted and the warnings are returned.
 * A policy that cannot be evaluated refuses, as a ValidatingAdmissionPolicy with
 * failurePolicy Fail does.
 */
import type { FieldError, InferenceService } from '../api/index.ts';
import { celValue, compile, firstLine, type CompiledExpression } from './cel.ts';
import type { GovernanceConfig } from './config.ts';
import { buildPolicies, type GovernancePolicy } from './policies.ts';

export interface GovernanceVerdict {
  /** Refusals (action Deny). */
  errors: FieldError[];
  /** What Warn admitted although a policy failed. */
  warnings: string[];
}

interface CompiledPolicy {
  policy: GovernancePolicy;
  admits: CompiledExpression;
  message?: CompiledExpression;
}

export class EmbeddedGovernance {
  readonly action: GovernanceConfig['action'];
  readonly #policies: CompiledPolicy[];

  constructor(config: GovernanceConfig) {
    this.action = config.action;
    this.#policies = buildPolicies(config)
      .filter((p) => p.target === 'inferenceservices')
      .map((policy) => ({
        policy,
        admits: compile(policy.expression, `policy ${policy.name}`),
        ...(policy.messageExpression ? { message: compile(policy.messageExpression, `policy ${policy.name} (its message)`) } : {}),
      }));
  }

  get policyNames(): string[] {
    return this.#policies.map((p) => p.policy.name);
  }

  check(svc: InferenceService, stored: InferenceService | undefined): GovernanceVerdict {
    const activation = { object: celValue(svc), oldObject: stored === undefined ? null : celValue(stored) };
    const failures: FieldError[] = [];
    for (const { policy, admits, message } of this.#policies) {
      let admitted: unknown;
      try {
        admitted = admits(activation);
      } catch (err) {
        failures.push({ path: policy.fieldPath, message: `policy ${policy.name} could not be evaluated (${firstLine(err)}); fix the policy or the field it reads` });
        continue;
      }
      if (admitted === true) continue;
      const text = admitted === false ? messageOf(policy, message, activation) : `policy ${policy.name} gave ${String(admitted)}, not true or false`;
      failures.push({ path: policy.fieldPath, message: `${text} (policy ${policy.name})` });
    }
    if (this.action === 'Warn') return { errors: [], warnings: failures.map((f) => `${f.path}: ${f.message}`) };
    return { errors: failures, warnings: [] };
  }
}

/** The policy's message, without the field path it may start with (the error names the field). */
function messageOf(policy: GovernancePolicy, message: CompiledExpression | undefined, activation: Record<string, unknown>): string {
  let text = policy.message;
  if (message !== undefined) {
    try {
      const evaluated = message(activation);
      if (typeof evaluated === 'string' && evaluated !== '') text = evaluated;
    } catch {
      // The static message stands in, as the API server does.
    }
  }
  for (const prefix of [`${policy.fieldPath}: `, `${policy.fieldPath} `]) if (text.startsWith(prefix)) return text.slice(prefix.length);
  return text;
}
