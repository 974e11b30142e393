/**
 * The autoscaler objects of the policies a cluster's own controllers run: an `autoscaling/v2`
 * HorizontalPodAutoscaler for hpa-cpu and hpa-service, a KEDA ScaledObject for keda-queue. Each
 * targets the InferenceService through its scale subresource (it writes spec.scaling.replicas),
 * so a rollout still splits the count between revisions as karb's plan says. gascl has none:
 * karb's own loop sets the replicas. Pure builders.
 */
import { API_VERSION, KIND, durationMs, type InferenceServiceSpec } from '../../api/index.ts';
import { serviceLabels } from './labels.ts';
import type { ClusterOptions } from './options.ts';
import type { ServiceIdentity } from './service-objects.ts';

type Obj = Record<string, unknown>;

/** The metrics karb's custom metrics API serves for hpa-service, described on the InferenceService. */
export const LATENCY_P95_METRIC = 'karb_service_latency_p95_milliseconds';
export const CONCURRENCY_METRIC = 'karb_service_concurrency';
/** That API (karb controller serves it: src/control/kubernetes/custom-metrics.ts; karb install registers it). */
export const CUSTOM_METRICS_GROUP = 'custom.metrics.k8s.io';
export const CUSTOM_METRICS_VERSION = 'v1beta2';
/** The HPA's default CPU target, as karb's hpa-cpu decider uses it. */
const CPU_TARGET_PERCENT = 80;
const KEDA_POLLING_SECONDS = 30;

export function buildAutoscaler(s: ServiceIdentity, spec: InferenceServiceSpec, options: ClusterOptions): Obj | undefined {
  switch (spec.scaling.policy) {
    case 'hpa-cpu':
    case 'hpa-service':
      return buildHorizontalPodAutoscaler(s, spec);
    case 'keda-queue':
      return buildScaledObject(s, spec, options);
    case 'gascl':
      return undefined;
  }
}

function scaleTargetRef(s: ServiceIdentity): Obj {
  return { apiVersion: API_VERSION, kind: KIND, name: s.name };
}

function behavior(spec: InferenceServiceSpec): Obj {
  const { upSeconds, downSeconds } = spec.scaling.stabilization;
  return { scaleUp: { stabilizationWindowSeconds: Math.round(upSeconds) }, scaleDown: { stabilizationWindowSeconds: Math.round(downSeconds) } };
}

export function buildHorizontalPodAutoscaler(s: ServiceIdentity, spec: InferenceServiceSpec): Obj {
  const { scaling, slo } = spec;
  const described = { apiVersion: API_VERSION, kind: KIND, name: s.name };
  const metrics =
    scaling.policy === 'hpa-cpu'
      ? [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: CPU_TARGET_PERCENT } } }]
      : [
          { type: 'Object', object: { describedObject: described, metric: { name: LATENCY_P95_METRIC }, target: { type: 'Value', value: String(slo.latencyP95Ms) } } },
          { type: 'Object', object: { describedObject: described, metric: { name: CONCURRENCY_METRIC }, target: { type: 'AverageValue', averageValue: String(scaling.targetConcurrency) } } },
        ];
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: s.name, namespace: s.namespace, labels: serviceLabels(s.name, s.labels) },
    spec: {
      scaleTargetRef: scaleTargetRef(s),
      // The HPA cannot hold a target at zero; minReplicas 0 keeps one replica under it.
      minReplicas: Math.max(1, scaling.minReplicas),
      maxReplicas: scaling.maxReplicas,
      metrics,
      behavior: behavior(spec),
    },
  };
}

export function buildScaledObject(s: ServiceIdentity, spec: InferenceServiceSpec, options: ClusterOptions): Obj {
  const { scaling } = spec;
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name: s.name, namespace: s.namespace, labels: serviceLabels(s.name, s.labels) },
    spec: {
      scaleTargetRef: scaleTargetRef(s),
      pollingInterval: KEDA_POLLING_SECONDS,
      cooldownPeriod: Math.round(durationMs(scaling.scaleToZeroAfter) / 1000),
      minReplicaCount: scaling.minReplicas,
      maxReplicaCount: scaling.maxReplicas,
      advanced: { horizontalPodAutoscalerConfig: { behavior: behavior(spec) } },
      triggers: [
        {
          type: 'prometheus',
          metadata: {
            serverAddress: options.prometheusUrl,
            query: `sum(karb_gateway_queue_depth{service="${s.name}"})`,
            threshold: String(scaling.targetConcurrency),
            activationThreshold: '0',
          },
        },
      ],
    },
  };
}
