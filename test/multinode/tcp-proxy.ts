import net from 'node:net';

export interface Backend {
  host: string;
  port: number;
}

/**
 * What the proxy does with traffic: `open` forwards it; `cut` resets every open connection and every new
 * one at once (a stopped server, a severed link: clients see ECONNRESET or a refused connect); `stalled`
 * forwards nothing in either direction and leaves connections open (packets dropped: clients only find
 * out from their own timeouts); `answers-held` forwards what clients send and holds what the backends
 * answer (a link that lost its way back: the backend does the work, the client never hears of it).
 */
export type ProxyMode = 'open' | 'cut' | 'stalled' | 'answers-held';

/**
 * A small TCP load balancer for the multi-node tests: each new connection goes to the next backend in
 * turn (no sticky sessions), skipping backends that refuse the connection, as a health-checking balancer
 * would. When either side of a pair closes, the other is closed too, so a killed node's clients see
 * their connection drop and reconnect through the proxy. In front of a single PostgreSQL it simulates the
 * database going away (`cut`, `stall`) without touching the shared server.
 */
export class TcpProxy {
  private next = 0;
  private readonly pairs = new Set<net.Socket>();
  /** Client sockets whose upstream is connected: the ones `stall` pauses and `restore` resumes. */
  private readonly linked = new Map<net.Socket, net.Socket>();
  private current: ProxyMode = 'open';

  private constructor(
    private readonly server: net.Server,
    private backends: Backend[],
  ) {
    server.on('connection', (client) => this.accept(client));
  }

  static async start(backends: Backend[]): Promise<TcpProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new TcpProxy(server, backends);
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  get mode(): ProxyMode {
    return this.current;
  }

  /** Replaces the backends (a node restarted on another port); open connections stay where they are. */
  setBackends(backends: Backend[]): void {
    this.backends = backends;
  }

  /** Resets every open connection (both sides) and, until `restore`, every new one as soon as it arrives. */
  cut(): void {
    this.current = 'cut';
    for (const socket of this.pairs) socket.resetAndDestroy();
  }

  /** Stops forwarding in both directions; connections stay open and new ones are accepted but not forwarded. */
  stall(): void {
    this.current = 'stalled';
    for (const [client, upstream] of this.linked) unlink(client, upstream);
  }

  /**
   * Forwards requests but holds every answer, on open connections and new ones: what a backend sends stays
   * in the proxy until `restore` (then it flows on) or `cut` (then it is lost).
   */
  holdAnswers(): void {
    this.current = 'answers-held';
    for (const [client, upstream] of this.linked) {
      upstream.unpipe(client);
      upstream.pause();
    }
  }

  /**
   * Forwards again: new connections reach the backends, held answers flow on, and stalled connections
   * carry on, unless `abandonStalled`: then they stay open but carry nothing ever again, like connections
   * a failover or a firewall dropped without a word (their ends only find out from their own timeouts).
   */
  restore({ abandonStalled = false } = {}): void {
    const was = this.current;
    this.current = 'open';
    if (was === 'answers-held') {
      for (const [client, upstream] of this.linked) upstream.pipe(client);
      return;
    }
    if (was !== 'stalled') return;
    if (abandonStalled) {
      this.linked.clear();
      return;
    }
    for (const [client, upstream] of this.linked) link(client, upstream);
    for (const client of this.pairs) if (!this.linked.has(client) && !client.destroyed) this.connect(client, 0);
  }

  async close(): Promise<void> {
    for (const socket of this.pairs) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    client.on('error', () => {});
    if (this.current === 'cut') {
      client.resetAndDestroy();
      return;
    }
    client.pause();
    this.pairs.add(client);
    client.once('close', () => this.pairs.delete(client));
    // Stalled: held unconnected; restore() connects it.
    if (this.current !== 'stalled') this.connect(client, 0);
  }

  private connect(client: net.Socket, tried: number): void {
    if (tried >= this.backends.length || client.destroyed) {
      client.destroy();
      return;
    }
    const backend = this.backends[this.next++ % this.backends.length]!;
    const upstream = net.connect(backend.port, backend.host);
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      if (client.destroyed) return upstream.destroy();
      this.pairs.add(upstream);
      this.linked.set(client, upstream);
      if (this.current === 'open') link(client, upstream);
      else if (this.current === 'answers-held') client.pipe(upstream);
      else unlink(client, upstream);
    });
    upstream.on('error', () => {
      if (!connected) this.connect(client, tried + 1);
    });
    upstream.once('close', () => {
      this.pairs.delete(upstream);
      if (connected) client.destroy();
    });
    client.once('close', () => {
      this.linked.delete(client);
      upstream.destroy();
    });
  }
}

function link(client: net.Socket, upstream: net.Socket): void {
  client.pipe(upstream);
  upstream.pipe(client);
}

/** Nothing flows until `link`: unpiped and paused, so what arrives stays in the sockets' buffers. */
function unlink(client: net.Socket, upstream: net.Socket): void {
  client.unpipe(upstream);
  upstream.unpipe(client);
  client.pause();
  upstream.pause();
}
