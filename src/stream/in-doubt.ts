import type { CommitOutcome } from '../store/log-store.js';

/** What the writer does as the outcome of a lost commit becomes known, or does not in time. */
export interface InDoubtAnswer {
  /** Known before the deadline: it committed. */
  committed(): void;
  /** Known before the deadline: it did not commit. */
  aborted(): void;
  /** The deadline came first: the producers are told it is in doubt. */
  late(): void;
  /** After `late`: what it turned out to be, or `unknown` once the store has not told for GIVE_UP_MS. */
  lateOutcome(outcome: CommitOutcome): void;
}

const FIRST_RETRY_MS = 50;
const MAX_RETRY_MS = 5000;
/** How long the store is asked about a lost commit before it is logged as unknown for good. */
const GIVE_UP_MS = 10 * 60_000;

/**
 * Asks `outcome` (the store) again and again, with backoff, what became of a commit whose answer was
 * lost: until `deadline` (ms since epoch) for the producers' answer, then on in the background so that
 * what did commit is still published and logged.
 */
export function settleInDoubt(outcome: () => Promise<CommitOutcome>, deadline: number, answer: InDoubtAnswer): void {
  const started = Date.now();
  let delay = FIRST_RETRY_MS;
  let late = false;
  const ask = async (): Promise<void> => {
    for (;;) {
      const known = late ? await outcome() : await within(outcome(), deadline - Date.now());
      if (known !== 'unknown') {
        if (late) answer.lateOutcome(known);
        else if (known === 'committed') answer.committed();
        else answer.aborted();
        return;
      }
      if (!late && Date.now() >= deadline) {
        late = true;
        answer.late();
      }
      if (late && Date.now() - started >= GIVE_UP_MS) return answer.lateOutcome('unknown');
      await sleep(late ? delay : Math.min(delay, deadline - Date.now()));
      delay = Math.min(delay * 2, MAX_RETRY_MS);
    }
  };
  void ask();
}

/** `promise`'s outcome, or `unknown` if it has none within `ms`. */
function within(promise: Promise<CommitOutcome>, ms: number): Promise<CommitOutcome> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('unknown'), Math.max(0, ms));
    timer.unref();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      () => {
        clearTimeout(timer);
        resolve('unknown');
      },
    );
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)).unref());
}
