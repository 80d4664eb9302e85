import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { CommandReport } from './projections/report.js'
import type { Store } from './store/store.js'

/**
 * Prometheus metrics (`GET /metrics`), one registry per service. Counters and histograms are moved by
 * the code paths that do the work; gauges about the inbox, the queues and the dead letters are read
 * when scraped (from SQLite and Redis), so they are never stale and cost nothing between scrapes.
 */
export interface ScrapeSources {
  readonly store: Pick<Store, 'inbox' | 'parking' | 'sql'>
  /** Wake-up jobs waiting per partition in Redis (undefined while Redis is away). */
  readonly queueDepths: () => Promise<number[] | undefined>
  readonly heldPartitions: () => number
  /** The installation's partition count: the backlog series have one sample per partition, 0 when idle. */
  readonly partitions: number
  readonly actorCacheSize: () => number
  readonly clock: () => number
}

export class Metrics {
  readonly registry = new Registry()
  readonly commandsReceived = new Counter({ name: 'waybill_commands_received_total', help: 'Commands durably taken in, by type', labelNames: ['type'] as const, registers: [this.registry] })
  readonly commandsDecided = new Counter({
    name: 'waybill_commands_total', help: 'Commands decided, by type, outcome and rejection reason', labelNames: ['type', 'outcome', 'reason'] as const, registers: [this.registry],
  })
  readonly commandLatency = new Histogram({
    name: 'waybill_command_latency_seconds', help: 'From the command being received to its outcome being committed', labelNames: ['outcome'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry],
  })
  readonly eventsAppended = new Counter({ name: 'waybill_events_appended_total', help: 'Events appended to the log, by type', labelNames: ['type'] as const, registers: [this.registry] })
  readonly hydrations = new Counter({
    name: 'waybill_hydrations_total', help: 'Shipment actors obtained, by source: cache (hit), snapshot or replay (misses)', labelNames: ['source'] as const, registers: [this.registry],
  })
  readonly cycleSize = new Histogram({
    name: 'waybill_cycle_commands', help: 'Commands decided per transaction (group commit)', buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512], registers: [this.registry],
  })
  readonly parkings = new Counter({ name: 'waybill_parkings_total', help: 'Shipments parked because a command kept failing', registers: [this.registry] })
  readonly departures = new Histogram({
    name: 'waybill_truck_departures', help: 'Trucks departed, by how many shipments left with them', buckets: [0, 1, 5, 10, 25, 50, 100, 250, 500, 1000], registers: [this.registry],
  })
  readonly http = new Histogram({
    name: 'waybill_http_request_duration_seconds', help: 'HTTP requests by method, route and status', labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [this.registry],
  })

  constructor(sources: ScrapeSources) {
    collectDefaultMetrics({ register: this.registry, prefix: 'waybill_' })
    // The backlog is read once per scrape: the registry collects its series concurrently, so both
    // backlog gauges share the read in flight.
    let backlog: ReturnType<typeof sources.store.inbox.pendingByPartition> | undefined
    const pending = () => (backlog ??= sources.store.inbox.pendingByPartition().finally(() => (backlog = undefined)))
    /** A sample for every partition: 0 unless commands wait there. */
    const setBacklog = async (gauge: Gauge<'partition'>, value: (row: { n: number; oldest: number }, now: number) => number) => {
      const rows = await pending()
      const now = sources.clock()
      gauge.reset()
      for (let partition = 0; partition < sources.partitions; partition++) gauge.set({ partition: String(partition) }, 0)
      for (const row of rows) gauge.set({ partition: String(row.partition) }, value(row, now))
    }
    new Gauge({
      name: 'waybill_inbox_pending', help: 'Commands waiting for their outcome, per partition', labelNames: ['partition'] as const, registers: [this.registry],
      collect() {
        return setBacklog(this, (row) => row.n)
      },
    })
    new Gauge({
      name: 'waybill_inbox_oldest_pending_seconds', help: 'Age of the oldest command waiting for its outcome, per partition', labelNames: ['partition'] as const, registers: [this.registry],
      collect() {
        return setBacklog(this, (row, now) => (now - row.oldest) / 1000)
      },
    })
    new Gauge({
      name: 'waybill_queue_jobs_waiting', help: 'Wake-up jobs waiting in Redis, per partition', labelNames: ['partition'] as const, registers: [this.registry],
      async collect() {
        this.reset()
        const depths = await sources.queueDepths().catch(() => undefined)
        depths?.forEach((n, partition) => this.set({ partition: String(partition) }, n))
      },
    })
    new Gauge({ name: 'waybill_parked_shipments', help: 'Shipments parked (dead letters waiting for an admin)', registers: [this.registry], async collect() { this.set(await sources.store.parking.count()) } })
    new Gauge({ name: 'waybill_partitions_held', help: 'Partitions this process decides', registers: [this.registry], collect() { this.set(sources.heldPartitions()) } })
    new Gauge({
      name: 'waybill_trucks', help: 'Opened trucks, by state (loading at a dock, departed)', labelNames: ['state'] as const, registers: [this.registry],
      async collect() {
        this.reset()
        for (const row of await sources.store.sql.all<{ state: string; n: number }>('SELECT state, count(*) AS n FROM trucks GROUP BY state')) this.set({ state: row.state }, row.n)
      },
    })
    new Gauge({
      name: 'waybill_truck_load_factor', help: 'Load ÷ capacity over the loading trucks that have a capacity (0–1)', registers: [this.registry],
      async collect() {
        const row = await sources.store.sql.get<{ load: number | null; capacity: number | null }>(
          `SELECT (SELECT count(*) FROM truck_loads l JOIN trucks t ON t.truck_id = l.truck_id WHERE t.state = 'loading' AND t.capacity IS NOT NULL) AS load,
                  (SELECT sum(capacity) FROM trucks WHERE state = 'loading') AS capacity`,
        )
        this.set(row?.capacity ? (row.load ?? 0) / row.capacity : 0)
      },
    })
    new Gauge({ name: 'waybill_actor_cache_size', help: 'Hydrated shipments kept in memory', registers: [this.registry], collect() { this.set(sources.actorCacheSize()) } })
  }

  /** After a decision commit. Label sets are resolved once and reused (this runs for every command). */
  decided(decided: ReadonlyArray<{ readonly command: { readonly receivedAt: number }; readonly report: CommandReport }>, now: number): void {
    this.cycleSize.observe(decided.length)
    for (const { command, report } of decided) {
      this.#child(this.commandsDecided, `${report.type}|${report.outcome}|${report.reason ?? ''}`, { type: report.type, outcome: report.outcome, reason: report.reason ?? '' }).inc()
      if (report.event) this.#child(this.eventsAppended, report.event.type, { type: report.event.type }).inc()
      this.#child(this.commandLatency, report.outcome, { outcome: report.outcome }).observe(Math.max(0, now - command.receivedAt) / 1000)
      if (report.type === 'DEPART' && report.outcome === 'accepted' && report.view && 'manifest' in report.view) this.departures.observe(report.view.manifest.length)
    }
  }

  /** One HTTP request answered. */
  request(method: string, route: string, status: number, seconds: number): void {
    this.#child(this.http, `${method} ${route} ${status}`, { method, route, status: String(status) }).observe(seconds)
  }

  readonly #children = new Map<string, { inc(): void; observe(value: number): void }>()

  #child<L extends string>(metric: { labels(labels: Partial<Record<L, string>>): unknown }, key: string, labels: Partial<Record<L, string>>) {
    const id = `${(metric as { name?: string }).name}:${key}`
    let child = this.#children.get(id)
    if (!child) this.#children.set(id, (child = metric.labels(labels) as { inc(): void; observe(value: number): void }))
    return child
  }

  /** An actor was obtained: from the cache (hit), a checkpoint or a replay (misses). */
  hydrated(source: 'cache' | 'snapshot' | 'replay'): void {
    this.hydrations.inc({ source })
  }
}
