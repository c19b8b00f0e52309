/**
 * Sets dcmjs-dimse's process-wide settings once: our Implementation Class UID and version name (sent
 * in A-ASSOCIATE and written into the file meta of every SR), and warn-level library logging, because
 * dcmjs-dimse logs every PDU at info level.
 */
import dcmjsDimse from 'dcmjs-dimse';

import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from './uids.ts';

dcmjsDimse.Implementation.setImplementationClassUid(IMPLEMENTATION_CLASS_UID);
dcmjsDimse.Implementation.setImplementationVersion(IMPLEMENTATION_VERSION_NAME);
dcmjsDimse.log.setLevel('warn');
