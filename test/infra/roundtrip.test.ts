/** The foundation's end-to-end check against the real Temporal dev server and real SeaweedFS S3. */
import { describe, expect, it } from "vitest";
import { WorkflowFailedError } from "@temporalio/client";
import { S3Client, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { useDevServices } from "../setup/services.js";
import { connectClient, connectWorker } from "../../infra/connect.js";
import { createRoundTripWorker, roundTripQueue } from "../../workers/roundtrip.js";
import { createStore, isComplete, readStep, decodeSafetensors } from "../../core/store/index.js";
import { roundTripWorkflow } from "../../workflows/roundtrip.js";
import { SweepIdKey } from "../../workflows/search-attributes.js";

const dev = useDevServices();

async function runRoundTrip(workflowId: string, input: { message: string; size: number }) {
  const config = dev.config;
  const store = createStore(config.store);
  const connection = await connectWorker(config);
  const client = await connectClient(config);
  try {
    const worker = await createRoundTripWorker({ config, connection, store });
    const result = await worker.runUntil(
      client.workflow.execute(roundTripWorkflow, {
        taskQueue: roundTripQueue(config),
        workflowId,
        args: [{ runId: workflowId, ...input, cpuTaskQueue: roundTripQueue(config) }],
        typedSearchAttributes: [{ key: SweepIdKey, value: workflowId }],
      }),
    );
    return { result, store, config };
  } finally {
    await client.connection.close();
    await connection.close();
  }
}

describe("round trip on real services", () => {
  it("a workflow's activities write an artifact to SeaweedFS and read it back verified", async () => {
    const { result, store } = await runRoundTrip("roundtrip-test-1", { message: "hello kneuron", size: 4096 });
    expect(result.workflowId).toBe("roundtrip-test-1");
    expect(result.message).toBe("hello kneuron");
    expect(result.elements).toBe(4096);
    expect(result.key).toMatch(/^roundtrip\/roundtrip-test-1\/[0-9a-f]{20}$/);

    // The objects really are in the bucket: list them with a raw S3 client, not through our store.
    const raw = new S3Client({ endpoint: dev.s3.endpoint, region: dev.s3.region, forcePathStyle: true, credentials: { accessKeyId: dev.s3.accessKeyId, secretAccessKey: dev.s3.secretAccessKey } });
    const listed = await raw.send(new ListObjectsV2Command({ Bucket: dev.s3.bucket, Prefix: result.key + "/" }));
    expect(listed.Contents?.map((o) => o.Key).sort()).toEqual(["manifest.json", "message.txt", "values.safetensors"].map((f) => `${result.key}/${f}`));
    expect(await isComplete(store, result.key)).toBe(true);
    const step = await readStep(store, result.key);
    const values = decodeSafetensors(await step.read("values.safetensors")).tensors.values;
    expect(values.dtype).toBe("F32");
    expect(values.data[1]).toBeCloseTo(Math.sin(1) * 0.5, 6);
  });

  it("the workflow carries kneuron's search attributes, queryable through visibility", async () => {
    const client = await connectClient(dev.config);
    try {
      const query = `KneuronSweepId = "roundtrip-test-1" AND KneuronPhase = "done"`;
      let ids: string[] = [];
      for (let i = 0; i < 50 && ids.length === 0; i++) {
        ids = [];
        for await (const wf of client.workflow.list({ query })) ids.push(wf.workflowId);
        if (!ids.length) await new Promise((r) => setTimeout(r, 200));
      }
      expect(ids).toEqual(["roundtrip-test-1"]);
    } finally {
      await client.connection.close();
    }
  });

  it("serves the Temporal Web UI", async () => {
    const r = await fetch(dev.temporal.uiUrl);
    expect(r.status).toBe(200);
    expect(await r.text()).toMatch(/<html/i);
  });

  it("bad activity input fails the workflow with a non-retryable error naming the activity", async () => {
    const err = await runRoundTrip("roundtrip-test-bad", { message: "x", size: -5 }).catch((e) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause?.cause as Error | undefined;
    expect(cause?.message).toMatch(/writeRoundTripArtifact: invalid input/);
    expect(cause?.message).toMatch(/size/);
  });

  it("keeps workflow history across a dev server restart (same SQLite file)", async () => {
    const before = await connectClient(dev.config);
    const handle = before.workflow.getHandle("roundtrip-test-1");
    const historyBefore = (await handle.fetchHistory()).events?.length ?? 0;
    const resultBefore = await handle.result();
    await before.connection.close();
    expect(historyBefore).toBeGreaterThan(10);

    const pidBefore = dev.temporal.pid;
    await dev.temporal.restart();
    expect(dev.temporal.pid).not.toBe(pidBefore);

    const after = await connectClient(dev.config);
    try {
      const h = after.workflow.getHandle("roundtrip-test-1");
      expect((await h.describe()).status.name).toBe("COMPLETED");
      expect((await h.fetchHistory()).events?.length).toBe(historyBefore);
      expect(await h.result()).toEqual(resultBefore);
    } finally {
      await after.connection.close();
    }
    // And the restarted server still runs new work.
    const { result } = await runRoundTrip("roundtrip-test-2", { message: "after restart", size: 16 });
    expect(result.message).toBe("after restart");
  });
});
