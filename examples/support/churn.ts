/**
 * A small churn driver: keeps creating, updating and deleting objects at a
 * steady pace, so that reflectors have something to follow.
 */

/** What the driver does to one object, by name. */
export interface ChurnTarget {
  label: string;
  create(name: string): Promise<unknown>;
  update(name: string, step: number): Promise<unknown>;
  remove(name: string): Promise<unknown>;
}

/** Counts of the driver's work, and its last failure. */
export interface ChurnStats {
  creates: number;
  updates: number;
  deletes: number;
  failures: number;
  lastFailure: string | undefined;
}

/**
 * Every `intervalMs`, for each target: create an object while fewer than
 * `population` exist, otherwise update a random one, and now and then delete
 * one. Returns a stop function that waits for the work in flight.
 */
export function startChurn(targets: ChurnTarget[], opts: { intervalMs?: number; population?: number } = {}): { stats: ChurnStats; stop: () => Promise<void> } {
  const { intervalMs = 200, population = 20 } = opts;
  const stats: ChurnStats = { creates: 0, updates: 0, deletes: 0, failures: 0, lastFailure: undefined };
  const live = new Map(targets.map((t) => [t, [] as string[]]));
  let stopped = false;
  const tick = (step: number) =>
    Promise.all(
      targets.map(async (t) => {
        const names = live.get(t)!;
        const pick = () => names[Math.floor(Math.random() * names.length)]!;
        try {
          if (names.length < population) {
            const name = `${t.label}-${step}`;
            await t.create(name);
            names.push(name);
            stats.creates++;
          } else if (Math.random() < 0.2) {
            const name = pick();
            names.splice(names.indexOf(name), 1);
            await t.remove(name);
            stats.deletes++;
          } else {
            await t.update(pick(), step);
            stats.updates++;
          }
        } catch (err) {
          stats.failures++;
          stats.lastFailure = (err as Error).message;
        }
      }),
    );
  const loop = (async () => {
    for (let step = 1; !stopped; step++) {
      await tick(step);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    stats,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
