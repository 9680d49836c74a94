import type { Bus, BusListener, BusMessage, ControlMessage } from './bus.js';

/** The in-process bus of a single node: publish calls the listener synchronously for subscribed users. */
export class LocalBus implements Bus {
  readonly name = 'local';
  private listener: BusListener | undefined;
  private readonly subscribed = new Set<string>();
  private closed = false;

  attach(listener: BusListener): void {
    this.listener = listener;
  }

  publish(message: BusMessage): void {
    if (this.closed) return;
    if (message.type !== 'session-ended' && !this.subscribed.has(message.userId)) return;
    this.listener?.onMessage(message);
  }

  async broadcast(message: ControlMessage): Promise<void> {
    this.publish(message);
  }

  /** Delivery is synchronous: whatever was broadcast has been heard already. */
  async barrier(): Promise<void> {}

  async subscribe(userId: string): Promise<void> {
    this.subscribed.add(userId);
  }

  async unsubscribe(userId: string): Promise<void> {
    this.subscribed.delete(userId);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.subscribed.clear();
  }
}
