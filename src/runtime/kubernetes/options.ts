/**
 * What the builders need to know about the cluster besides the resource: images and where karb's
 * own components run. One set of defaults, so `karb render`, `karb install` and `karb controller`
 * build the same objects unless told otherwise.
 */

import type { Pool } from '../../api/pool.ts';

export interface ClusterOptions {
  /** karb's image: the built-in model server runs from it (`karb serve`), and so do the controller and gateway. */
  image: string;
  /** Namespace karb's controller and gateway run in. */
  systemNamespace: string;
  /** Image of the init container that copies `s3://` models (it runs `aws s3 cp`). */
  modelFetcherImage: string;
  /** Prometheus that a keda-queue ScaledObject asks for the gateway's queue depth. */
  prometheusUrl: string;
  /**
   * The node pools declared in a pools file (`karb controller --pools FILE`): how each finds its
   * nodes and the taints they carry. Empty: a pool named by a service is the nodes labelled
   * `karb.dev/pool: <name>`.
   */
  pools?: readonly Pool[];
}

/** This release, as package.json names it (a test keeps them equal): the tag of the image the builders name. */
export const KARB_VERSION = '0.1.0';

export const DEFAULT_CLUSTER_OPTIONS: Readonly<ClusterOptions> = Object.freeze({
  image: `ghcr.io/karb-dev/karb:${KARB_VERSION}`,
  systemNamespace: 'karb-system',
  modelFetcherImage: 'docker.io/amazon/aws-cli:2.22.35',
  prometheusUrl: 'http://prometheus-operated.monitoring.svc:9090',
});

/** The port every model server container listens on (its `PORT`, and `$PORT` in a custom command). */
export const SERVING_PORT = 8080;
/** Seconds a pod keeps serving after it is marked for deletion, so endpoints are gone before SIGTERM. */
export const PRE_STOP_SECONDS = 5;
