/** Temporal connections built from temporal.config.ts (TLS files read here, API key never logged). */
import { readFileSync } from "node:fs";
import { Client, Connection } from "@temporalio/client";
import { NativeConnection } from "@temporalio/worker";
import type { TLSConfig } from "@temporalio/client";
import type { Config } from "../temporal.config.js";

export function temporalTls(cfg: Config): TLSConfig | boolean {
  const t = cfg.temporal.tls;
  if (!t) return Boolean(cfg.temporal.apiKey); // an API key needs TLS (Temporal Cloud)
  const read = (p: string) => {
    try {
      return readFileSync(p);
    } catch (e) {
      throw new Error(`temporal.tls: cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  return {
    serverNameOverride: t.serverName,
    serverRootCACertificate: t.caPath ? read(t.caPath) : undefined,
    clientCertPair: t.certPath && t.keyPath ? { crt: read(t.certPath), key: read(t.keyPath) } : undefined,
  };
}

function connectionOptions(cfg: Config) {
  return { address: cfg.temporal.address, tls: temporalTls(cfg), apiKey: cfg.temporal.apiKey };
}

/** A workflow client (for starting, querying, listing workflows). Close with `client.connection.close()`. */
export async function connectClient(cfg: Config): Promise<Client> {
  const connection = await Connection.connect({ ...connectionOptions(cfg), connectTimeout: "10s" }).catch((e) => {
    throw new Error(`cannot reach Temporal at ${cfg.temporal.address} (KNEURON_TEMPORAL_ADDRESS): ${(e as Error).message}`, { cause: e });
  });
  return new Client({ connection, namespace: cfg.temporal.namespace });
}

/** The native connection a Worker needs. Close with `connection.close()`. */
export function connectWorker(cfg: Config): Promise<NativeConnection> {
  return NativeConnection.connect(connectionOptions(cfg)).catch((e) => {
    throw new Error(`cannot reach Temporal at ${cfg.temporal.address} (KNEURON_TEMPORAL_ADDRESS): ${(e as Error).message}`, { cause: e });
  });
}
