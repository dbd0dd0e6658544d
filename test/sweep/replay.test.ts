/**
 * Determinism guard: histories recorded from real sweeps (test/fixtures/sweep/*.history.bin, written by
 * `KNEURON_RECORD_HISTORIES=1 npx vitest run test/sweep/sweep.test.ts`) replay against today's
 * workflow code without a nondeterminism error. Changing a workflow's command sequence breaks this;
 * then version the change (patched()) or, if no old sweep can still be running, record again.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Worker } from "@temporalio/worker";
import { temporal } from "@temporalio/proto";
import { PROJECT_ROOT } from "../../temporal.config.js";
import { workflowBundle } from "../../workers/cpu.js";
import { installRuntime } from "../../workers/runtime.js";

const dir = path.join(PROJECT_ROOT, "test", "fixtures", "sweep");
const files = readdirSync(dir).filter((f) => f.endsWith(".history.bin")).sort();

describe("workflow determinism", () => {
  it("has recorded sweep and concept histories, including failed items", () => {
    expect(files.some((f) => f.startsWith("sweepWorkflow"))).toBe(true);
    expect(files.some((f) => f.startsWith("conceptWorkflow"))).toBe(true);
  });

  it("holds histories from before and after the bounded-history patch (the upgrade the patch keeps safe)", () => {
    const events = (f: string) => temporal.api.history.v1.History.decode(readFileSync(path.join(dir, f))).events ?? [];
    const patchedRun = (f: string) => events(f).some((e) => e.markerRecordedEventAttributes?.markerName === "core_patch");
    const signals = (f: string) => events(f).filter((e) => e.signalExternalWorkflowExecutionInitiatedEventAttributes).length;
    const concepts = files.filter((f) => f.startsWith("conceptWorkflow"));
    const before = concepts.filter((f) => f.includes("-prepatch-"));
    const after = concepts.filter((f) => f.includes("-bounded-"));
    expect(before.length).toBeGreaterThan(0);
    expect(after.length).toBeGreaterThan(1);
    // Before: every step signalled the parent, no patch marker. After: the marker, no signal, runs continued as new.
    for (const f of before) expect([patchedRun(f), signals(f) > 0], f).toEqual([false, true]);
    for (const f of after) expect([patchedRun(f), signals(f)], f).toEqual([true, 0]);
    expect(after.some((f) => events(f).some((e) => e.workflowExecutionContinuedAsNewEventAttributes))).toBe(true);
  });

  it("replays every recorded history with the current workflow code", async () => {
    installRuntime("WARN");
    const histories = files.map((f) => ({ workflowId: f.replace(/\.history\.bin$/, ""), history: temporal.api.history.v1.History.decode(readFileSync(path.join(dir, f))) }));
    const failures: string[] = [];
    for await (const r of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories)) {
      if (r.error) failures.push(`${r.workflowId}: ${r.error.message}`);
    }
    expect(failures).toEqual([]);
  });
});
