// Discovery: follows the registry's change feed (or polls a registry without one) into the
// service table. Static stability: while the registry is unreachable the table keeps what it had
// and the router goes on routing; readiness reports "degraded".
import type { Clock, Logger, Random } from '../core/index.js';
import { watchRegistry, type Watcher, type WatchState } from '../registry/watcher.js';
import type { RegistryState } from './admin.js';
import type { RouterConfig } from './config.js';
import type { ServiceTable } from './table.js';

export class Discovery {
  #watcher: Watcher | undefined;
  #state: WatchState = { connected: false, mode: 'watch' };

  constructor(
    private readonly config: RouterConfig,
    private readonly table: ServiceTable,
    private readonly clock: Clock,
    private readonly random: Random,
    private readonly log: Logger,
  ) {}

  start(): void {
    const url = this.config.registryUrl;
    if (!url) return;
    this.#watcher = watchRegistry(
      {
        url,
        token: this.config.registryToken,
        clock: this.clock,
        random: this.random,
        logger: this.log,
        pollIntervalMs: this.config.registrySyncIntervalMs,
      },
      {
        snapshot: (services) => this.table.snapshot(services),
        upsert: (s) => this.table.upsertRecord(s),
        remove: (name) => this.table.missing(name),
        load: (name, load) => this.table.setLoad(name, load),
        state: (s) => {
          this.#state = s;
        },
      },
    );
  }

  state(): RegistryState {
    return { url: this.config.registryUrl, connected: this.config.registryUrl ? this.#state.connected : true, mode: this.config.registryUrl ? this.#state.mode : 'static' };
  }

  close(): void {
    this.#watcher?.close();
  }
}
