/**
 * Real dev services for integration tests. In a test file:
 *
 *   const dev = useDevServices();            // Temporal + SeaweedFS on free ports, this file only
 *   it("...", async () => { const client = await connectClient(dev.config); ... });
 *
 * The services start once in beforeAll and stop in afterAll; they are leashed, so they die with the
 * test process even if it is killed. Each file gets its own pair, so a test may stop/restart them.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll } from "vitest";
import { type DevServices, type S3Handle, startDevServices, startSeaweed } from "../../infra/services.js";
import { loadConfig, type Config } from "../../temporal.config.js";
import type { S3StoreConfig } from "../../core/store/index.js";
import { installRuntime } from "../../workers/runtime.js";

export function tempDir(prefix = "kneuron-test-"): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Store settings for a running SeaweedFS, optionally under a key prefix. */
export function s3StoreConfig(s3: S3Handle, prefix = ""): S3StoreConfig {
  return { kind: "s3", endpoint: s3.endpoint, bucket: s3.bucket, region: s3.region, prefix, forcePathStyle: true, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
}

/** A full Config pointing at these services (process env ignored, so tests are reproducible). */
export function configFor(svc: Pick<DevServices, "temporal" | "s3">, prefix = ""): Config {
  const { kind: _k, ...store } = s3StoreConfig(svc.s3, prefix);
  return loadConfig({ temporal: { address: svc.temporal.address, namespace: svc.temporal.namespace }, store: { kind: "s3", ...store } }, {});
}

export interface DevServicesRef {
  readonly services: DevServices;
  readonly temporal: DevServices["temporal"];
  readonly s3: DevServices["s3"];
  readonly config: Config;
  readonly stateDir: string;
}

/** Starts Temporal + SeaweedFS for the calling test file. */
export function useDevServices(): DevServicesRef {
  let services: DevServices | undefined;
  let stateDir = "";
  beforeAll(async () => {
    installRuntime("WARN"); // workers log every state change at INFO; tests keep warnings and errors
    stateDir = tempDir();
    services = await startDevServices({ stateDir });
  });
  afterAll(async () => {
    await services?.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });
  const need = () => {
    if (!services) throw new Error("useDevServices: services are available inside tests and hooks only");
    return services;
  };
  return {
    get services() { return need(); },
    get temporal() { return need().temporal; },
    get s3() { return need().s3; },
    get config() { return configFor(need()); },
    get stateDir() { return stateDir; },
  };
}

/** Starts only SeaweedFS for the calling test file (store tests need no Temporal). */
export function useSeaweed(): { readonly s3: S3Handle; readonly stateDir: string } {
  let s3: S3Handle | undefined;
  let stateDir = "";
  beforeAll(async () => {
    stateDir = tempDir();
    s3 = await startSeaweed({ stateDir });
  });
  afterAll(async () => {
    await s3?.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });
  return {
    get s3() {
      if (!s3) throw new Error("useSeaweed: available inside tests and hooks only");
      return s3;
    },
    get stateDir() { return stateDir; },
  };
}
