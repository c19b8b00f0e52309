/**
 * Counts what the DICOM listener receives by wrapping its instance sink: instances and bytes stored,
 * and associations open. The listener and the ingest sink stay unaware of metrics.
 */
import type {
  AssociationInfo,
  AssociationRejection,
  AssociationSummary,
  InstanceSink,
  ReceivedInstance,
  SpoolFile,
  StoreResult,
} from '../dicom/instance-sink.ts';
import type { GatewayMetrics } from './gateway-metrics.ts';

export class MeteredSink implements InstanceSink {
  constructor(
    private readonly inner: InstanceSink,
    private readonly metrics: GatewayMetrics,
  ) {}

  createSpool(): SpoolFile {
    return this.inner.createSpool();
  }

  storageAvailable(): boolean {
    return this.inner.storageAvailable();
  }

  async storeInstance(spool: SpoolFile, instance: ReceivedInstance): Promise<StoreResult> {
    const result = await this.inner.storeInstance(spool, instance);
    // A duplicate kept as first received adds nothing to the store.
    if (result.outcome !== 'duplicate') this.metrics.instanceStored(instance.sizeBytes);
    return result;
  }

  async associationAccepted(association: AssociationInfo): Promise<void> {
    this.metrics.associationOpened();
    await this.inner.associationAccepted(association);
  }

  associationRejected(association: AssociationInfo, reason: AssociationRejection): Promise<void> {
    return this.inner.associationRejected(association, reason);
  }

  async associationEnded(association: AssociationInfo, summary: AssociationSummary): Promise<void> {
    this.metrics.associationClosed();
    await this.inner.associationEnded(association, summary);
  }
}
