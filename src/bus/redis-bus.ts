import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { once } from '../util/once.js';
import type { Bus, BusListener, BusMessage, ControlMessage } from './bus.js';
import { decodeBusMessage, encodeBusMessage } from './codec.js';
import { openRedis, pingRedis, quitRedis } from '../redis/redis-connection.js';

export interface RedisBusOptions {
  /** redis:// or rediss:// URL. */
  url: string;
  /** Put before every channel name (REDIS_PREFIX), so several deployments can share one Redis. */
  prefix: string;
  logger: Logger;
  /** Counts publishes that failed (they are also logged). */
  onPublishError?(error: unknown): void;
}

/**
 * The bus across nodes on Redis pub/sub: one channel per user (`<prefix>user:<userId>`), so a node
 * receives only the users it has sockets for, and one control channel (`<prefix>control`) every node
 * follows from the start, for session ends. Two connections: a subscriber (in subscribe mode it can
 * run nothing else) and a publisher, whose single ordered connection keeps one node's messages for a
 * user in publish order.
 *
 * Pub/sub is at most once: what is published while a node's subscriber is disconnected never reaches
 * it. So the subscriber re-subscribes itself after every reconnect (ioredis' automatic re-subscribe is
 * off to know when it is done) and then calls `onResync`, and the hub catches its users up from the store.
 */
export class RedisBus implements Bus {
  readonly name = 'redis';
  private listener: BusListener | undefined;
  private closing = false;
  /** The barrier PING on its way, and the one callers who came after it share. */
  private sentBarrier: Promise<void> | undefined;
  private nextBarrier: Promise<void> | undefined;
  /** Channels this node wants, in the order the hub asked; re-subscribed after a reconnect. */
  private readonly channels = new Set<string>();

  private constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly options: RedisBusOptions,
  ) {
    subscriber.on('message', (channel: string, raw: string) => this.onRaw(channel, raw));
    // Listeners are attached after the first connect, so 'ready' here always means a reconnect.
    subscriber.on('ready', () => this.onSubscriberReady());
    const logErrors = (role: string) => (error: Error) => options.logger.warn({ err: error, role }, `redis ${role} connection error`);
    subscriber.on('error', logErrors('subscriber'));
    publisher.on('error', logErrors('publisher'));
    subscriber.on('close', () => {
      if (!this.closing) options.logger.warn({ event: 'bus-disconnected' }, 'redis bus subscriber disconnected; messages may be lost until it is back');
    });
  }

  /** Connects both clients; rejects when Redis does not answer (the caller retries). */
  static async open(options: RedisBusOptions): Promise<RedisBus> {
    // What each connection needs (a publish's retries, re-subscribing ourselves) is set by its role.
    const publisher = await openRedis(options.url, 'bus-publisher');
    let subscriber: Redis | undefined;
    try {
      subscriber = await openRedis(options.url, 'bus-subscriber');
      const bus = new RedisBus(publisher, subscriber, options);
      // Session ends reach every node, whatever users it follows: subscribed before the bus is handed out.
      bus.channels.add(bus.controlChannel);
      await subscriber.subscribe(bus.controlChannel);
      return bus;
    } catch (error) {
      publisher.disconnect();
      subscriber?.disconnect();
      throw error;
    }
  }

  attach(listener: BusListener): void {
    this.listener = listener;
  }

  publish(message: BusMessage): void {
    if (this.closing) return;
    const channel = message.type === 'session-ended' ? this.controlChannel : this.channelOf(message.userId);
    this.publisher.publish(channel, encodeBusMessage(message)).catch((error: unknown) => {
      // Never thrown into the caller: the message is committed, and whoever misses it catches up from
      // the store (a resync after their reconnect, or the gap the next message reveals).
      this.options.onPublishError?.(error);
      this.options.logger.error({ err: error, type: message.type, userId: message.userId }, 'bus publish failed');
    });
  }

  async broadcast(message: ControlMessage): Promise<void> {
    if (this.closing) throw new Error('the bus is closed');
    await this.publisher.publish(this.controlChannel, encodeBusMessage(message));
  }

  /**
   * A PING on the subscriber connection: Redis answers it after every message it pushed to this
   * subscriber before it took the PING, and ioredis hands those to the listener before the answer
   * resolves. Callers that come while one is on its way share the next one (sent after it), so a burst of
   * upgrades costs one round trip, not one each.
   */
  barrier(): Promise<void> {
    if (!this.sentBarrier) return this.sendBarrier();
    this.nextBarrier ??= this.sentBarrier.catch(() => {}).then(() => {
      this.nextBarrier = undefined;
      return this.sendBarrier();
    });
    return this.nextBarrier;
  }

  private sendBarrier(): Promise<void> {
    const sent: Promise<void> = pingRedis(this.subscriber).finally(() => {
      if (this.sentBarrier === sent) this.sentBarrier = undefined;
    });
    this.sentBarrier = sent;
    return sent;
  }

  async subscribe(userId: string): Promise<void> {
    const channel = this.channelOf(userId);
    this.channels.add(channel);
    await this.subscriber.subscribe(channel);
  }

  async unsubscribe(userId: string): Promise<void> {
    const channel = this.channelOf(userId);
    this.channels.delete(channel);
    if (this.closing) return;
    // Sent even while reconnecting: it queues behind a subscribe still waiting, so the two cancel out.
    await this.subscriber.unsubscribe(channel);
  }

  async ping(): Promise<void> {
    // A subscriber in subscribe mode answers PING too (RESP2 replies ["pong", ""]).
    await Promise.all([this.publisher.ping(), pingRedis(this.subscriber)]);
  }

  /** Idempotent. */
  readonly close = once(async () => {
    this.closing = true;
    this.channels.clear();
    await Promise.all([quitRedis(this.publisher), quitRedis(this.subscriber)]);
  });

  private get controlChannel(): string {
    return `${this.options.prefix}control`;
  }

  private channelOf(userId: string): string {
    return `${this.options.prefix}user:${userId}`;
  }

  private onRaw(channel: string, raw: string): void {
    const decoded = decodeBusMessage(raw);
    if (!decoded.ok) {
      this.options.logger.warn({ channel, reason: decoded.reason }, 'bus message ignored');
      return;
    }
    this.listener?.onMessage(decoded.message);
  }

  /** After a reconnect: subscribe again to every channel still wanted, then let the hub catch up. */
  private onSubscriberReady(): void {
    if (this.closing) return;
    const channels = [...this.channels];
    const resubscribed = channels.length > 0 ? this.subscriber.subscribe(...channels) : Promise.resolve();
    resubscribed.then(
      () => {
        this.options.logger.info({ event: 'bus-resync', channels: channels.length }, 'redis bus reconnected; catching local users up from the store');
        this.listener?.onResync();
      },
      (error: unknown) => this.options.logger.error({ err: error }, 'redis bus could not subscribe again after reconnecting'),
    );
  }
}
