import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LivetailProcess, processEnv } from '../helpers/process.js';
import { type TestDatabase, createTestDatabase } from '../helpers/services.js';
import { TcpProxy } from './tcp-proxy.js';

/** One node of the test cluster: a real livetail process. */
export interface ClusterNode {
  process: LivetailProcess;
  /** http://127.0.0.1:port */
  url: string;
  wsUrl: string;
  port: number;
}

/**
 * Three (or `size`) real livetail processes sharing one fresh PostgreSQL database and one Redis, behind a
 * round-robin TCP proxy. Started concurrently, so their migrations race as they would in a deployment.
 */
export class Cluster {
  readonly nodes: Array<ClusterNode | undefined> = [];
  /** Data directories of the nodes (the cluster lives across tests, so it removes them itself in stop()). */
  private readonly dirs: string[] = [];
  private constructor(
    readonly database: TestDatabase,
    readonly redisUrl: string,
    readonly proxy: TcpProxy,
    private readonly env: Record<string, string>,
  ) {}

  static async start(redisUrl: string, size = 3, env: Record<string, string> = {}): Promise<Cluster> {
    const database = await createTestDatabase();
    const proxy = await TcpProxy.start([]);
    const cluster = new Cluster(database, redisUrl, proxy, {
      DATABASE_URL: database.url,
      REDIS_URL: redisUrl,
      REDIS_PREFIX: `livetail-mn-${randomBytes(4).toString('hex')}:`,
      // Sessions are checked against the database on every upgrade, so a sign-out is seen at once.
      SESSION_CACHE_TTL_MS: '0',
      UPGRADE_RATE_LIMIT: '100000',
      ...env,
    });
    try {
      await Promise.all(Array.from({ length: size }, (_, i) => cluster.startNode(i)));
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** ws://127.0.0.1:<proxy>/ws: what clients connect to. */
  get proxyWsUrl(): string {
    return `ws://127.0.0.1:${this.proxy.port}/ws`;
  }

  node(index: number): ClusterNode {
    const node = this.nodes[index];
    if (!node) throw new Error(`node ${index} is not running`);
    return node;
  }

  /** Starts node `index` (again), on a port of its own, and puts it behind the proxy. */
  async startNode(index: number): Promise<ClusterNode> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'livetail-node-'));
    this.dirs.push(dir);
    const process = LivetailProcess.start(processEnv(dir, { ...this.env, NODE_ID: `node-${index + 1}` }));
    let url: string;
    try {
      url = await process.listening(30_000);
    } catch (error) {
      await process.kill();
      throw error;
    }
    const port = Number(new URL(url).port);
    const node = { process, url, wsUrl: `ws://127.0.0.1:${port}/ws`, port };
    this.nodes[index] = node;
    this.updateProxy();
    return node;
  }

  /**
   * kill -9: no shutdown, connections cut, nothing flushed. The proxy still lists the dead node until it
   * is started again and skips it when its connection is refused, as a health-checking balancer would.
   */
  async killNode(index: number): Promise<void> {
    const node = this.node(index);
    this.nodes[index] = undefined;
    await node.process.kill();
  }

  async stop(): Promise<void> {
    await this.proxy.close();
    await Promise.all(this.nodes.map((node) => node?.process.kill()));
    await this.database.drop();
    for (const dir of this.dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  }

  private updateProxy(): void {
    this.proxy.setBackends(this.nodes.filter((n): n is ClusterNode => n !== undefined).map((n) => ({ host: '127.0.0.1', port: n.port })));
  }
}
