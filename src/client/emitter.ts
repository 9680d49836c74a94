/** A listener of an event whose payload is `T`; `void` events take no argument. */
export type Listener<T> = [T] extends [void] ? () => void : (payload: T) => void;

/**
 * A minimal typed event emitter; `E` maps each event name to its payload type. A listener that throws
 * does not stop the others nor the client: its error is rethrown on a fresh task, where it surfaces as
 * an uncaught error (as EventTarget does).
 */
export class Emitter<E extends object> {
  private readonly listeners = new Map<keyof E, Set<(payload: never) => void>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as (payload: never) => void);
    return () => this.off(event, listener);
  }

  off<K extends keyof E>(event: K, listener: Listener<E[K]>): void {
    this.listeners.get(event)?.delete(listener as (payload: never) => void);
  }

  protected emit<K extends keyof E>(event: K, ...payload: [E[K]] extends [void] ? [] : [E[K]]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as (...args: unknown[]) => void)(...payload);
      } catch (error) {
        setTimeout(() => {
          throw error;
        });
      }
    }
  }
}
