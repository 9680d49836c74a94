import type { TargetKind } from '../load/messages.js';
import type { AdapterCost } from './adapter-cost.js';
import type { ProducerLatencyWindow, PublisherWindow } from './producer-windows.js';
import type { StormWindow } from './storm.js';
import type { ConnectWindow, FanoutWindow, IngestWindow, LatencyWindow, WindowResult } from './windows.js';

/** The two producers W6 compares, by their names in the results and the report. */
export const ONE_PER_ENTRY = 'one POST per entry';
export const PUBLISHER = 'publisher';
/** W4's second reference: bare ws writing each new socket a message of livetail's initial-logs size (bench/targets/bare-ws.ts). */
export const BARE_WS_INITIAL_LOGS = 'bare-ws sending initial-logs';

/** A window as kept: the least disturbed of its runs, and how many reruns that took. */
export type Measured<T extends WindowResult> = T & { reruns: number; disturbed: boolean };

/** Windows of one workload, by target name (livetail, bare-ws, socket.io; sqlite, postgres for W5). */
export type Series<T extends WindowResult> = Record<string, Array<Measured<T>>>;

/** Server memory growth per socket: (after − before) / sockets, both after two full GCs. */
export interface PerSocketMemory {
  sockets: number;
  rss: number;
  /** V8 heap without compiled code (JIT output is the process's, not a socket's). */
  heap: number;
}

export interface LevelResult {
  sockets: number;
  users: number;
  memory: Record<string, PerSocketMemory>;
  fanout?: Series<FanoutWindow>;
  latency?: Series<LatencyWindow>;
  /** W2 with 10 logs per POST (every 5 ms). */
  smallBatchLatency?: Series<LatencyWindow>;
}

export interface IdleScale {
  /** The sockets the profile asked for, and those each target held (fewer when the open-files limit would not allow it). */
  requested: number;
  sockets: number;
  /** Why it ran with fewer sockets than asked, if it did. */
  capped?: string;
  memory: Record<string, PerSocketMemory>;
  clientWorkers: number;
  /** Source addresses the clients connected from (1: the kernel's choice, 127.0.0.1). */
  sourceAddresses: number;
}

export interface MachineFacts {
  cpus: string;
  cores: number;
  node: string;
  kernel: string;
  memoryGiB: number;
  /** Open files a process may have (soft limit; Node raises its own to the hard limit). */
  openFilesLimit: number;
  openFilesHardLimit?: number;
  loadAverageAtStart: number[];
}

export interface Results {
  profile: string;
  startedAt: string;
  seconds: number;
  machine: MachineFacts;
  /** The knobs the figures depend on, for the report's labels. */
  settings: {
    clientWorkers: number;
    socketsPerUser: number;
    inFlight: number;
    latencyLogsPerSecond: number;
    latencyBatch: number;
    ingestInFlight?: number;
    ingestFilled?: boolean;
    maxOtherCores: number;
  };
  /** How the users were made (sign-ups vs adapter). */
  users: { signedUp: number; total: number };
  kinds: Record<string, TargetKind>;
  levels: LevelResult[];
  /** Per request: by entries per POST, livetail and bare-express. */
  perRequest?: { inFlight: number; batches: Record<string, Series<IngestWindow>> };
  /** W3 on fresh targets at scale (50,000 in the full profile). */
  idleScale?: IdleScale;
  connect?: Series<ConnectWindow>;
  /** W4's users each had this many logs stored (initial-logs read from the store). */
  connectStoredLogs?: number;
  /** W5: sqlite, postgres, and the raw better-sqlite3 reference (RAW_SQLITE). */
  ingest?: Series<IngestWindow>;
  /** The reconnect storm: livetail (SDK clients) and bare-ws (clients with the SDK's backoff). */
  storm?: { clients: number; users: number; storedLogs: number; logsPerSecond: number; batchSize: number; produceMs: number; series: Series<StormWindow> };
  deflate?: { fanout: Series<FanoutWindow>; idle: Record<string, PerSocketMemory>; active: Record<string, PerSocketMemory> };
  /** W6, by producer: `one POST per entry` and `publisher` (livetail/publisher with its defaults). */
  producer?: { throughput: Series<PublisherWindow>; latency: Series<ProducerLatencyWindow>; inFlight: number; entriesPerSecond: number };
  /** W7: the ImapFlow adapter's cost per command. */
  adapter?: AdapterCost;
  notes: string[];
}
