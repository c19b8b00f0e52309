/** Deliveries: the list, and the administrator actions replay and approve of src/worker/delivery-admin.ts. */
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';

import type { DeliveryState } from '../../db/entities/delivery.ts';
import { searchDeliveries } from '../../db/queries/report-views.ts';
import { approveDelivery, replayDelivery, type DeliveryActor } from '../../worker/delivery-admin.ts';
import { requestToken } from '../authentication.ts';
import { pagingFields, parseParameters, uidParameter, uuidParameter, type ApiContext } from './route-context.ts';

const DELIVERY_STATES = ['pending', 'held', 'sending', 'delivered', 'failed', 'dead'] as const satisfies readonly DeliveryState[];

const deliveryListQuery = z
  .object({
    state: z.enum(DELIVERY_STATES).optional(),
    destination: z.string().min(1).max(64).optional(),
    studyInstanceUid: uidParameter.optional(),
    ...pagingFields,
  })
  .strict();

const deliveryParams = z.object({ deliveryId: uuidParameter });
const replayBody = z.object({ force: z.boolean().default(false) }).strict();

export function deliveryRoutes(context: ApiContext): FastifyPluginAsync {
  return async (app) => {
    app.get('/deliveries', { config: { permission: 'read' } }, async (request) => {
      const query = parseParameters(deliveryListQuery, request.query);
      const page = await context.database.run((manager) => searchDeliveries(manager, query));
      return { total: page.total, limit: query.limit, offset: query.offset, deliveries: page.deliveries };
    });

    // delivery-admin writes the audit row with actorType 'token', the token's name and the request's address.
    app.post('/deliveries/:deliveryId/replay', { config: { permission: 'act' } }, async (request) => {
      const { deliveryId } = parseParameters(deliveryParams, request.params);
      const { force } = parseParameters(replayBody, request.body);
      return replayDelivery(context.database, deliveryId, tokenActor(request), { force, wake: context.wakeDestination });
    });

    app.post('/deliveries/:deliveryId/approve', { config: { permission: 'act' } }, async (request) => {
      const { deliveryId } = parseParameters(deliveryParams, request.params);
      return approveDelivery(context.database, deliveryId, tokenActor(request), context.wakeDestination);
    });
  };
}

function tokenActor(request: Parameters<typeof requestToken>[0]): DeliveryActor {
  return { actorType: 'token', actor: requestToken(request).name, sourceAddress: request.ip };
}
