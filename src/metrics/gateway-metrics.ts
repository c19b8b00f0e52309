/**
 * The Prometheus metrics of one process. Each process of a fleet serves its own; Prometheus adds them
 * up across processes (sum by stage, queue). Labels are fixed sets (stage, queue, failure code), never
 * ids, so the number of series stays bounded.
 *
 * The journey histogram `argus_stage_duration_seconds` has one series per stage, each measuring the
 * step that ends in it:
 * - complete: last instance received to study complete (the quiet period and the check interval);
 * - selected: study complete to series selected (queue wait and selection);
 * - assembled: volume assembly; inferred: model inference;
 * - delivered: report stored to the start of the send attempt that succeeded (retries included);
 * - acknowledged: that attempt's start to the accepting ACK or C-STORE response.
 */
import client from 'prom-client';

export const JOURNEY_STAGES = ['complete', 'selected', 'assembled', 'inferred', 'delivered', 'acknowledged'] as const;
export type JourneyStage = (typeof JOURNEY_STAGES)[number];

/** From tens of milliseconds (a small volume) to two hours (a delivery retried through an outage). */
const STAGE_BUCKETS_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200];
/** From a large model on a CPU to a small one on a GPU. */
const TOKENS_PER_SECOND_BUCKETS = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000];

export interface QueueDepth {
  queue: string;
  state: string;
  count: number;
}

export class GatewayMetrics {
  readonly registry = new client.Registry();
  private readonly instancesReceived: client.Counter;
  private readonly bytesReceived: client.Counter;
  private readonly openAssociations: client.Gauge;
  private readonly stageDuration: client.Histogram<'stage'>;
  private readonly jobOutcomes: client.Counter<'queue' | 'outcome'>;
  private readonly jobFailures: client.Counter<'queue' | 'code'>;
  private readonly tokensPerSecond: client.Histogram;
  private depthSource: (() => Promise<QueueDepth[]>) | undefined;

  constructor() {
    client.collectDefaultMetrics({ register: this.registry, prefix: 'argus_' });
    const registers = [this.registry];
    this.instancesReceived = new client.Counter({ name: 'argus_instances_received_total', help: 'DICOM instances stored by this listener (new or replaced).', registers });
    this.bytesReceived = new client.Counter({ name: 'argus_received_bytes_total', help: 'Bytes of the Part 10 files stored by this listener.', registers });
    this.openAssociations = new client.Gauge({ name: 'argus_open_associations', help: 'DICOM associations accepted and not yet ended.', registers });
    this.stageDuration = new client.Histogram({
      name: 'argus_stage_duration_seconds',
      help: 'Duration of each step of a study: arrival, complete, selected, assembled, inferred, delivered, acknowledged.',
      labelNames: ['stage'],
      buckets: STAGE_BUCKETS_SECONDS,
      registers,
    });
    this.jobOutcomes = new client.Counter({ name: 'argus_jobs_total', help: 'Job attempts ended by this process, by queue and outcome.', labelNames: ['queue', 'outcome'], registers });
    this.jobFailures = new client.Counter({ name: 'argus_job_failures_total', help: 'Failed job attempts, by queue and error code.', labelNames: ['queue', 'code'], registers });
    this.tokensPerSecond = new client.Histogram({
      name: 'argus_model_tokens_per_second',
      help: 'Generated tokens per second of decoding, per report.',
      buckets: TOKENS_PER_SECOND_BUCKETS,
      registers,
    });
    const metrics = this;
    new client.Gauge({
      name: 'argus_queue_depth',
      help: 'Jobs per queue: waiting (created, retry) and running (active), read from the shared database at scrape time.',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        if (!metrics.depthSource) return;
        const depths = await metrics.depthSource();
        this.reset();
        for (const depth of depths) this.set({ queue: depth.queue, state: depth.state }, depth.count);
      },
    });
    // Every stage appears in a scrape from the start, so a dashboard shows 0 rather than no series.
    for (const stage of JOURNEY_STAGES) this.stageDuration.zero({ stage });
  }

  /** Sets the function that reads the queue depth at scrape time. */
  setQueueDepthSource(source: () => Promise<QueueDepth[]>): void {
    this.depthSource = source;
  }

  observeStage(stage: JourneyStage, seconds: number): void {
    this.stageDuration.observe({ stage }, Math.max(0, seconds));
  }

  instanceStored(bytes: number): void {
    this.instancesReceived.inc();
    this.bytesReceived.inc(bytes);
  }

  associationOpened(): void {
    this.openAssociations.inc();
  }

  associationClosed(): void {
    this.openAssociations.dec();
  }

  jobEnded(queue: string, outcome: 'completed' | 'failed' | 'released', code?: string): void {
    this.jobOutcomes.inc({ queue, outcome });
    if (outcome === 'failed') this.jobFailures.inc({ queue, code: code ?? 'internal_error' });
  }

  observeTokensPerSecond(value: number): void {
    this.tokensPerSecond.observe(value);
  }

  /** Renders every metric in the Prometheus text exposition format. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
