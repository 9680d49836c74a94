import net from 'node:net';

export interface Backend {
  host: string;
  port: number;
}

/**
 * A small TCP load balancer for the multi-node tests: each new connection goes to the next backend in
 * turn (no sticky sessions), skipping backends that refuse the connection, as a health-checking balancer
 * would. When either side of a pair closes, the other is closed too, so a killed node's clients see
 * their connection drop and reconnect through the proxy.
 */
export class TcpProxy {
  private next = 0;
  private readonly pairs = new Set<net.Socket>();

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

  /** Replaces the backends (a node restarted on another port); open connections stay where they are. */
  setBackends(backends: Backend[]): void {
    this.backends = backends;
  }

  async close(): Promise<void> {
    for (const socket of this.pairs) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    client.pause();
    this.pairs.add(client);
    client.on('error', () => {});
    client.once('close', () => this.pairs.delete(client));
    this.connect(client, 0);
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
      this.pairs.add(upstream);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    upstream.on('error', () => {
      if (!connected) this.connect(client, tried + 1);
    });
    upstream.once('close', () => {
      this.pairs.delete(upstream);
      if (connected) client.destroy();
    });
    client.once('close', () => upstream.destroy());
  }
}
