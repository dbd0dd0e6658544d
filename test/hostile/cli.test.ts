/**
 * Bad input through the real CLI, as a user types it: each case asserts the exit code, that the
 * message names the problem, and that a store written before the bad run still verifies.
 */
import net from "node:net";
import path from "node:path";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStore } from "../../core/store/index.js";
import { parseDatasetFlag, resolveConcepts } from "../../cli/sweep.js";
import { tempDir } from "../setup/services.js";
import { kneuron, sentinel } from "./harness.js";

const root = tempDir("kneuron-hostile-cli-");
const storeDir = path.join(root, "store");
/** Every run targets this local store (and never the user's). */
const LOCAL = { KNEURON_STORE: "local", KNEURON_STORE_DIR: storeDir };
let guard: Awaited<ReturnType<typeof sentinel>>;
const file = async (name: string, text: string) => {
  const p = path.join(root, name);
  await writeFile(p, text);
  return p;
};

beforeAll(async () => {
  guard = await sentinel(createStore({ kind: "local", dir: storeDir }));
});
afterAll(() => rm(root, { recursive: true, force: true }));

/** Runs the CLI on the test store; exit code 1 and the message on stderr, the store untouched. */
async function refused(argv: string[], message: RegExp, env: Record<string, string> = {}): Promise<string> {
  const r = await kneuron(argv, { ...LOCAL, ...env });
  expect(r.code, `${argv.join(" ")}\n${r.out}\n${r.err}`).toBe(1);
  expect(r.err).toMatch(message);
  expect(await guard.stillVerifies()).toBe(true);
  return r.err;
}

describe("concept lists", () => {
  it("--concepts '' is an error, not a sweep of every concept", async () => {
    await refused(["run", "--direct", "--concepts", ""], /--concepts "": names no concept/);
    await refused(["run", "--direct", "--concepts", " , "], /--concepts " , ": names no concept/);
  });

  it("a list of only unknown concepts is an error naming each, with the nearest known name", async () => {
    await refused(["run", "--direct", "--concepts", "unicorn,elephent"], /no valid concept: unknown concepts "unicorn", "elephent" \(did you mean "elephant"\?\)/);
  });

  it("unknown names next to valid ones end non-zero unless --allow-missing", async () => {
    await refused(["run", "--direct", "--concepts", "bear,beer"], /unknown concept "beer" \(did you mean "bear"\?\).*pass --allow-missing to sweep only bear/);
    const warned: string[] = [];
    expect(resolveConcepts(["bear", "beer"], "--concepts", true, (m) => warned.push(m))).toEqual(["bear"]);
    expect(warned[0]).toMatch(/skipping unknown concept "beer"/);
  });

  it("matching ignores case, _ and -", () => {
    expect(resolveConcepts(["Bear", "TRAFFIC_LIGHT", "cell-phone", "bear"], "--concepts")).toEqual(["bear", "traffic light", "cell phone"]);
  });

  it("a config file's concept list is checked the same way", async () => {
    await refused(["run", "--direct", "--config", await file("c.json", '{"concepts": ["giraff"]}')], /concepts: no valid concept: unknown concept "giraff" \(did you mean "giraffe"\?\)/);
  });
});

describe("sweep ids", () => {
  it("an id with spaces is refused with the reason, never rewritten", async () => {
    await refused(["run", "--direct", "--concepts", "bear", "--id", "my sweep"], /--id "my sweep" is not valid: it contains whitespace.*"my-sweep"/);
    await refused(["sweep", "status", "my sweep"], /sweep id "my sweep" is not valid: it contains whitespace/);
    await refused(["sweep", "report", "../etc"], /sweep id "\.\.\/etc" is not valid: a name may not contain \//);
    await refused(["report", "my sweep"], /sweep id "my sweep" is not valid: it contains whitespace/);
  });
});

describe("config files and specs", () => {
  it.each([
    ["null", "null", /expected a JSON object .* got null/],
    ["an array", "[1, 2]", /expected a JSON object .* got an array/],
    ["a number", "42", /expected a JSON object .* got a number/],
    ["not JSON", "{concepts: bear", /not JSON/],
  ])("a config holding %s is a clear error", async (_what, text, message) => {
    const p = await file(`cfg-${_what.replace(/\s/g, "")}.json`, text);
    await refused(["run", "--direct", "--config", p], new RegExp(`--config ${p}: ${message.source}`));
  });

  it("a missing config file names it", async () => {
    await refused(["run", "--direct", "--config", path.join(root, "absent.json")], /absent\.json: cannot read it \(ENOENT\)/);
  });

  it("an unknown key is an error naming it and the nearest valid key", async () => {
    await refused(["run", "--direct", "--config", await file("typo1.json", '{"noise": {"drwas": 2}}')], /noise\.drwas: unknown key \(did you mean "draws"\?\)/);
    await refused(["run", "--direct", "--config", await file("typo2.json", '{"draws": 2}')], /draws: unknown key \(did you mean "noise\.draws"\?\)/);
    await refused(["run", "--direct", "--config", await file("typo3.json", '{"dataset": {"kind": "coco", "dir": "x", "spilt": "val2017"}}')], /dataset\.spilt: unknown key \(did you mean "split"\?\)/);
  });

  it("numeric fields have upper bounds", async () => {
    await refused(["run", "--direct", "--config", await file("big1.json", '{"noise": {"draws": 100000000}}')], /noise\.draws: Too big: expected number to be <=1000/);
    await refused(["run", "--direct", "--config", await file("big2.json", '{"samplesPerConcept": 1e12, "eval": {"maxNewTokens": 100000}}')], /samplesPerConcept: Too big.*\n.*eval\.maxNewTokens: Too big/s);
  });

  it("bad values already handled stay handled: a bad method, a bad store kind, --samples 0", async () => {
    await refused(["run", "--direct", "--config", await file("m.json", '{"methods": ["magic"]}')], /methods\.0: Invalid option/);
    await refused(["run", "--direct", "--store", "ftp"], /argument 'ftp' is invalid. Allowed choices are local, s3/);
    await refused(["run", "--direct", "--samples", "0"], /--samples must be a positive integer/);
  });

  it("a run whose memory would not fit is refused before it starts, with the numbers", async () => {
    const p = await file("huge.json", '{"noise": {"draws": 1000}, "eval": {"otherImages": "all", "maxNewTokens": 256}}');
    const err = await refused(["run", "--direct", "--config", p, "--dataset", `coco:${root}:train2017`], /this run needs about [\d.]+ (GiB|MiB) of memory, more than the [\d.]+ (GiB|MiB) this machine has/);
    expect(err).toMatch(/lower noise\.draws/);
  });
});

describe("datasets", () => {
  it("coco:DIR:SPLIT reads SPLIT as the split, as the help says", async () => {
    expect(parseDatasetFlag("coco:/data/coco:train2017")).toEqual({ kind: "coco", dir: "/data/coco", split: "train2017" });
    expect(parseDatasetFlag("coco:/data/coco")).toEqual({ kind: "coco", dir: "/data/coco" });
    const dir = path.join(root, "coco-empty");
    await mkdir(dir);
    const r = await refused(["run", "--direct", "--concepts", "bear", "--dataset", `coco:${dir}:mysplit`], /COCO instances file not found/);
    expect(r).toContain(path.join(dir, "annotations", "instances_mysplit.json"));
  });

  it("a truncated annotations file is named (handled before, kept)", async () => {
    const dir = path.join(root, "coco-truncated");
    await mkdir(path.join(dir, "annotations"), { recursive: true });
    await writeFile(path.join(dir, "annotations", "instances_val2017.json"), '{"images": [{"id": 1, "file_na');
    await refused(["run", "--direct", "--concepts", "bear", "--dataset", `coco:${dir}`], /instances_val2017\.json: not valid JSON/);
  });

  it("synthetic:SEED needs an integer seed", async () => {
    await refused(["run", "--direct", "--dataset", "synthetic:abc"], /--dataset synthetic:abc: the seed must be a non-negative integer/);
  });
});

describe("services that do not answer", () => {
  let silent: net.Server;
  const sockets: net.Socket[] = [];
  let endpoint = "";
  beforeAll(async () => {
    silent = net.createServer((s) => void sockets.push(s.on("data", () => undefined).on("error", () => undefined)));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
    endpoint = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
  });
  afterAll(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const s3 = (ep: string) => ({ KNEURON_STORE: "s3", KNEURON_S3_ENDPOINT: ep, KNEURON_S3_BUCKET: "kneuron", KNEURON_S3_ACCESS_KEY_ID: "id", KNEURON_S3_SECRET_ACCESS_KEY: "s3cret-never-printed", KNEURON_S3_TIMEOUT_MS: "500" });

  it("a store endpoint that accepts connections but never answers: a clear error naming it, in seconds, no secret", async () => {
    const t0 = Date.now();
    const err = await refused(["run", "--direct", "--concepts", "bear"], new RegExp(`store s3://kneuron/ \\(${endpoint}\\): put "preflight-[^"]+" failed: .*timed out`), s3(endpoint));
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(err).not.toContain("s3cret-never-printed");
  });

  it("a refused store connection names the endpoint", async () => {
    await refused(["run", "--direct", "--concepts", "bear"], /store s3:\/\/kneuron\/ \(http:\/\/127\.0\.0\.1:1\): put "preflight-[^"]+" failed: .*ECONNREFUSED/, s3("http://127.0.0.1:1"));
  });

  it("a Temporal address that does not answer: the start names it before anything runs", async () => {
    const err = await refused(["sweep", "start", "--concepts", "bear"], /cannot reach Temporal at 127\.0\.0\.1:1 \(KNEURON_TEMPORAL_ADDRESS\)/, { KNEURON_TEMPORAL_ADDRESS: "127.0.0.1:1" });
    expect(err).not.toMatch(/workers:/);
  });

  it("a malformed Temporal address names the variable", async () => {
    await refused(["sweep", "status", "x"], /KNEURON_TEMPORAL_ADDRESS \(temporal\.address\): expected host:port/, { KNEURON_TEMPORAL_ADDRESS: "no-port" });
  });
});
