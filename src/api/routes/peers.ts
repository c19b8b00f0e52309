/** The configured DICOM peers and destinations and the HL7 destinations, read-only and without file paths of keys or certificates. */
import type { FastifyPluginAsync } from 'fastify';

import type { AppConfig } from '../../config/load.ts';
import type { ApiContext } from './route-context.ts';

export function describePeers(config: AppConfig) {
  const { dicom, hl7 } = config;
  return {
    dicom: {
      listener: { aeTitle: dicom.listener.aeTitle, host: dicom.listener.host, port: dicom.listener.port, tls: dicom.listener.tls !== undefined },
      peers: dicom.peers.map((peer) => ({ aeTitle: peer.aeTitle, host: peer.host })),
      destinations: dicom.destinations.map((destination) => ({
        name: destination.name,
        aeTitle: destination.aeTitle,
        host: destination.host,
        port: destination.port,
        tls: destination.tls !== undefined,
        warningPolicy: destination.warningPolicy,
        requireApproval: destination.requireApproval,
        blockOnDead: destination.blockOnDead,
      })),
    },
    hl7: {
      destinations: hl7.destinations.map((destination) => ({
        name: destination.name,
        host: destination.host,
        port: destination.port,
        tls: destination.tls !== undefined,
        receivingApplication: destination.receivingApplication,
        receivingFacility: destination.receivingFacility,
        processingId: destination.processingId,
        rejectPolicy: destination.rejectPolicy,
        requireApproval: destination.requireApproval,
        blockOnDead: destination.blockOnDead,
      })),
      orderListener: hl7.orderListener
        ? {
            host: hl7.orderListener.host,
            port: hl7.orderListener.port,
            allowedAddresses: hl7.orderListener.allowedAddresses,
            tls: hl7.orderListener.tls !== undefined,
          }
        : null,
    },
  };
}

export function peerRoutes(context: ApiContext): FastifyPluginAsync {
  return async (app) => {
    app.get('/peers', { config: { permission: 'read' } }, async () => describePeers(context.config));
  };
}
