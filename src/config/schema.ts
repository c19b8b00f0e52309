/**
 * The configuration schema: one zod object with the meaning, unit and default of every key.
 * docs/configuration.md documents the same keys for operators; a test keeps the two in step.
 * Unknown keys are errors, so a misspelt key is reported instead of silently ignored.
 */
import { z } from 'zod';

import { DEFAULT_STORED_ONLY_SOP_CLASSES, DEFAULT_TRANSFER_SYNTAX_ORDER, PROCESSABLE_SOP_CLASSES, SUPPORTED_TRANSFER_SYNTAX_UIDS } from '../dicom/conformance.ts';

/** DICOM AE titles are at most 16 characters of the default repertoire, without backslash or control characters (PS3.5 6.2). */
const aeTitle = z
  .string()
  .min(1)
  .max(16)
  .regex(/^[\x20-\x5b\x5d-\x7e]+$/, 'must be printable ASCII without backslash')
  .refine((value) => value.trim().length > 0, 'must not be only spaces');

const port = z.number().int().min(1).max(65535);

/** A JavaScript regular expression, checked by compiling it. */
const regularExpression = z.string().min(1).refine((pattern) => {
  try {
    new RegExp(pattern, 'i');
    return true;
  } catch {
    return false;
  }
}, 'must be a valid regular expression');

/** HL7 v2 HD components must not contain the encoding characters of MSH-1/MSH-2. */
const hl7Identifier = z
  .string()
  .min(1)
  .max(180)
  .regex(/^[^|^~\\&\r\n]+$/, 'must not contain | ^ ~ \\ & or line breaks');

const dicomPeer = z
  .object({
    /** Calling AE title that the peer uses. */
    aeTitle,
    /** Source IP address the peer connects from (IPv4 or IPv6, exact match). */
    host: z.string().min(1),
  })
  .strict();

/** TLS for an outgoing connection. Paths are relative to the config file. */
const clientTlsFields = {
  /** PEM file of the certificate authorities that sign the peer's certificate. Absent: Node's bundled CAs. */
  caFile: z.string().min(1).optional(),
  /** PEM client certificate, for peers that require one. */
  certFile: z.string().min(1).optional(),
  /** PEM private key of certFile. */
  keyFile: z.string().min(1).optional(),
  /** Reject a peer whose certificate does not verify. Turn off only for tests. */
  rejectUnauthorized: z.boolean().default(true),
};
const certificatePair = (tls: { certFile?: string; keyFile?: string }) => (tls.certFile === undefined) === (tls.keyFile === undefined);

const mllpClientTls = z
  .object({
    ...clientTlsFields,
    /** Name checked against the RIS certificate. Absent: the destination host. */
    serverName: z.string().min(1).optional(),
  })
  .strict()
  .refine(certificatePair, 'certFile and keyFile must be set together');

/** dcmjs-dimse checks the PACS certificate against the destination host; it takes no other name. */
const dicomClientTls = z.object(clientTlsFields).strict().refine(certificatePair, 'certFile and keyFile must be set together');

/** Settings of a destination's queue that HL7 and DICOM destinations share. */
const queueSettings = {
  /** Deliveries wait in `held` until an administrator approves them. */
  requireApproval: z.boolean().default(false),
  /** A dead delivery stops later deliveries to this destination until it is replayed. */
  blockOnDead: z.boolean().default(false),
};

/** DICOM UID syntax (PS3.5 9.1): digits separated by dots, at most 64 characters. */
const uid = z
  .string()
  .max(64)
  .regex(/^[0-9]+(\.[0-9]+)*$/, 'must be a DICOM UID (digits separated by dots)');

const listenerTls = z
  .object({
    /** PEM certificate chain of the listener. Relative to the config file. */
    certFile: z.string().min(1),
    /** PEM private key of the listener. Relative to the config file. */
    keyFile: z.string().min(1),
    /** PEM CA certificates that client certificates must chain to. Absent: Node.js's bundled CA certificates. */
    caFile: z.string().min(1).optional(),
    /** Reject peers that present no valid client certificate. */
    requireClientCertificate: z.boolean().default(false),
  })
  .strict();

/** One required-series rule: every given criterion must match the same series. */
const requiredSeriesRule = z
  .object({
    /** Modality (0008,0060) of the series, exact match. */
    modality: z.string().min(1).max(16).optional(),
    /** Regular expression that SeriesDescription (0008,103E) must match, case-insensitive. */
    seriesDescription: z
      .string()
      .min(1)
      .refine((pattern) => isValidRegExp(pattern), 'must be a valid regular expression')
      .optional(),
    /** ImageType (0008,0008) values that one instance of the series must all carry, e.g. ["ORIGINAL", "AXIAL"]. */
    imageType: z.array(z.string().min(1).max(16)).min(1).optional(),
  })
  .strict()
  .refine((rule) => rule.modality !== undefined || rule.seriesDescription !== undefined || rule.imageType !== undefined, 'needs at least one of modality, seriesDescription, imageType');

function isValidRegExp(pattern: string): boolean {
  try {
    new RegExp(pattern, 'i');
    return true;
  } catch {
    return false;
  }
}

const dicomDestination = z
  .object({
    /** Name used in the delivery table and logs. */
    name: z.string().min(1).max(64),
    /** Called AE title of the destination SCP. */
    aeTitle,
    host: z.string().min(1),
    port,
    /** Handling of a C-STORE warning status (0x0001, 0xBxxx): count it as delivered, or park the delivery as dead. */
    warningPolicy: z.enum(['delivered', 'park']).default('delivered'),
    ...queueSettings,
    tls: dicomClientTls.optional(),
  })
  .strict();

const hl7Destination = z
  .object({
    /** Name used in the delivery table and logs. */
    name: z.string().min(1).max(64),
    host: z.string().min(1),
    port,
    /** MSH-3 and MSH-4 of the messages we send. */
    sendingApplication: hl7Identifier,
    sendingFacility: hl7Identifier,
    /** MSH-5 and MSH-6: the receiving RIS. */
    receivingApplication: hl7Identifier,
    receivingFacility: hl7Identifier,
    /** Seconds to wait for the ACK before the attempt counts as failed. */
    ackTimeoutSeconds: z.number().positive().max(600).default(30),
    /** MSH-11 processing ID: P production, T training, D debugging. */
    processingId: z.enum(['P', 'T', 'D']).default('P'),
    /** OBX-2 of the report text: TX, one row per line, or FT, one row per section with \.br\ line breaks. */
    observationValueType: z.enum(['TX', 'FT']).default('TX'),
    /** Start each section's text with its label (FINDINGS:, IMPRESSION:), for receivers that show OBX-5 only. */
    sectionLabels: z.boolean().default(false),
    /** Handling of an AR or CR acknowledgment: retry with backoff, or park the delivery as dead. */
    rejectPolicy: z.enum(['retry', 'park']).default('park'),
    /** Seconds an idle connection stays open for the next message; 0 closes it after every ACK. */
    keepAliveSeconds: z.number().min(0).max(3600).default(0),
    ...queueSettings,
    tls: mllpClientTls.optional(),
  })
  .strict();

const hl7OrderListener = z
  .object({
    /** Address the order listener binds to. */
    host: z.string().min(1).default('127.0.0.1'),
    /** MLLP port of the order listener. */
    port,
    /** Source IP addresses allowed to send orders; empty allows every address. */
    allowedAddresses: z.array(z.string().min(1)).default([]),
    /** Seconds a connection may stay idle before it is closed. */
    idleTimeoutSeconds: z.number().positive().max(86400).default(300),
    /** MSH-11 processing IDs accepted; a message with another one gets AR. */
    processingIds: z.array(z.enum(['P', 'T', 'D'])).min(1).default(['P']),
    tls: z
      .object({
        /** PEM server certificate. */
        certFile: z.string().min(1),
        /** PEM private key of certFile. */
        keyFile: z.string().min(1),
        /** PEM CAs for client certificates; with it, a client without a valid certificate is rejected. */
        caFile: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const auditSyslog = z
  .object({
    /** Host name or address of the syslog receiver (the audit repository). */
    host: z.string().min(1),
    /** Port of the syslog receiver; 6514 is the registered port of syslog over TLS, 514 that of plain syslog. */
    port,
    /** `tcp` (RFC 6587 octet counting), `tls` (RFC 5425) or `udp` (RFC 5426, one message per datagram). */
    transport: z.enum(['tcp', 'tls', 'udp']).default('tls'),
    /** TLS settings of the `tls` transport. Paths are relative to the config file. */
    tls: mllpClientTls.optional(),
    /** RFC 5424 facility number; 10 is authpriv (security and authorization messages). */
    facility: z.number().int().min(0).max(23).default(10),
    /** APP-NAME of every message. */
    appName: z.string().min(1).max(48).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces').default('argus-gateway'),
    /** HOSTNAME of every message. Absent: the operating system's host name. */
    hostname: z.string().min(1).max(255).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces').optional(),
    /** AuditSourceID in the DICOM audit message. Absent: the HOSTNAME. */
    auditSourceId: z.string().min(1).max(64).optional(),
    /** AuditEnterpriseSiteID in the DICOM audit message. Absent: not sent. */
    enterpriseSiteId: z.string().min(1).max(64).optional(),
    /** Seconds between two looks for audit rows not yet sent. */
    pollIntervalSeconds: z.number().min(0.1).max(3600).default(2),
    /** Seconds to wait for the connection or for a write before the attempt counts as failed. */
    timeoutSeconds: z.number().positive().max(600).default(10),
    /** Maximum wait in seconds between two attempts to send a row that failed; the wait doubles from 1 s. */
    retryMaxSeconds: z.number().positive().max(3600).default(60),
  })
  .strict();

export const configSchema = z
  .object({
    /** Folder for the embedded database and, unless set, the instance store. Relative to the config file. */
    dataDirectory: z.string().min(1).default('../var'),
    /** pino log level. */
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
    database: z
      .object({
        /** postgres:// URL. Absent: embedded PGlite in <dataDirectory>/pglite. Overridden by DATABASE_URL. */
        url: z.string().regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://').optional(),
      })
      .strict()
      .prefault({}),
    dicom: z
      .object({
        listener: z
          .object({
            /** Address the DICOM listener binds to. */
            host: z.string().min(1).default('127.0.0.1'),
            /** TCP port of the DICOM listener. Overridden by ARGUS_DICOM_PORT. */
            port: port.default(11112),
            /** Our AE title: the called AE title that associations must use. */
            aeTitle: aeTitle.default('ARGUS'),
            /** Seconds an association may stay idle between PDUs before it is aborted. */
            idleTimeoutSeconds: z.number().positive().max(3600).default(60),
            /** Open TCP connections at once; more are closed at once. */
            maxConnections: z.number().int().min(1).max(10000).default(64),
            /** Associations at once, across all peers; more are rejected as transient (local limit exceeded). */
            maxAssociations: z.number().int().min(1).max(10000).default(32),
            /** Associations at once from one calling AE title. */
            maxAssociationsPerPeer: z.number().int().min(1).max(10000).default(8),
            /** DICOM TLS (TLS 1.2 or later). Absent: plain TCP. */
            tls: listenerTls.optional(),
          })
          .strict()
          .prefault({}),
        /** Peers allowed to send to us: calling AE title plus source address. */
        peers: z.array(dicomPeer).default([]),
        /** Storage SOP classes accepted at negotiation; every other one is rejected. */
        sopClasses: z
          .object({
            /** Classes whose instances the report pipeline reads. */
            processed: z
              .array(z.enum(Object.keys(PROCESSABLE_SOP_CLASSES) as [string, ...string[]]))
              .default(Object.keys(PROCESSABLE_SOP_CLASSES)),
            /** Classes stored without processing. */
            storedOnly: z.array(uid).default(Object.keys(DEFAULT_STORED_ONLY_SOP_CLASSES)),
          })
          .strict()
          .prefault({})
          .refine((classes) => !classes.storedOnly.some((uid) => classes.processed.includes(uid)), 'a SOP class cannot be both processed and storedOnly'),
        /** Accepted transfer syntaxes, most preferred first; each presentation context gets the first one it proposes. */
        transferSyntaxes: z
          .array(z.enum(SUPPORTED_TRANSFER_SYNTAX_UIDS as [string, ...string[]]))
          .min(1)
          .refine((list) => new Set(list).size === list.length, 'must not list a transfer syntax twice')
          .default([...DEFAULT_TRANSFER_SYNTAX_ORDER]),
        /** PACS destinations of the SR, sent by C-STORE. */
        destinations: z.array(dicomDestination).default([]),
        /** AE title we use when we call a destination. Defaults to the listener's AE title. */
        callingAeTitle: aeTitle.optional(),
        /** Seconds to wait for a destination's association and C-STORE response. */
        timeoutSeconds: z.number().positive().max(600).default(30),
      })
      .strict()
      .prefault({}),
    storage: z
      .object({
        /** Instance store folder. Absent: <dataDirectory>/instances. Relative to the config file. */
        instanceDirectory: z.string().min(1).optional(),
        /** A SOPInstanceUID received again with different content: keep the first copy, or replace it. */
        duplicatePolicy: z.enum(['keep_first', 'replace']).default('keep_first'),
        /** Percent of the instance store's file system in use above which new instances are refused. */
        maxDiskUsagePercent: z.number().positive().max(100).default(95),
        /** Free space, in MiB, below which new instances are refused. */
        minFreeDiskMegabytes: z.number().min(0).default(2048),
      })
      .strict()
      .prefault({}),
    completeness: z
      .object({
        /** Seconds without a new instance of a study after which it can be complete. */
        studyQuietPeriodSeconds: z.number().positive().max(86400).default(30),
        /** Seconds without a new instance of a series after which the series is complete. */
        seriesQuietPeriodSeconds: z.number().positive().max(86400).default(10),
        /** Seconds between two runs of the completeness check. */
        checkIntervalSeconds: z.number().positive().max(3600).default(5),
        /** Seconds after the first instance (of a study, or of a reopening) after which a study is complete whatever else holds. */
        forceCompleteAfterSeconds: z.number().positive().max(7 * 86400).default(3600),
        /** Series a study must have before it is complete; each rule must match one series. */
        requiredSeries: z.array(requiredSeriesRule).default([]),
        /** Instances that arrive after a study was processed: ignore them, re-run with an amended report, or start a new job. */
        lateArrivalPolicy: z.enum(['ignore', 'amend', 'new_job']).default('amend'),
      })
      .strict()
      .prefault({}),
    selection: z
      .object({
        /** Minimum number of usable slices a series needs to be read by the model. */
        minSlices: z.number().int().min(2).default(16),
        /** Modality values of the series that may be read. */
        modalities: z.array(z.string().min(1).max(16)).min(1).default(['CT']),
        /** ImageType values every slice must have; other slices of the series are skipped. */
        requiredImageType: z.array(z.string().min(1).max(16)).default(['ORIGINAL', 'PRIMARY', 'AXIAL']),
        /** ImageType values that skip a slice. LOCALIZER is always skipped. */
        excludedImageType: z.array(z.string().min(1).max(16)).default(['LOCALIZER']),
        /** Planes that may be read, named after the patient axis closest to the slice normal. */
        orientations: z.array(z.enum(['axial', 'coronal', 'sagittal'])).min(1).default(['axial']),
        /** Inclusive SliceThickness range in mm; a series with any slice outside it is not read. */
        sliceThicknessMm: z
          .object({
            min: z.number().min(0).default(0.5),
            max: z.number().positive().max(100).default(10),
          })
          .strict()
          .refine(({ min, max }) => min <= max, { message: 'min must not be above max' })
          .prefault({}),
        /** Regular expressions (case-insensitive) for ConvolutionKernel, most preferred first. */
        preferredKernels: z.array(regularExpression).default([]),
        /** Regular expression (case-insensitive) that SeriesDescription must match. */
        seriesDescriptionPattern: regularExpression.optional(),
        /** Regular expression (case-insensitive) that excludes a series by SeriesDescription. */
        excludedSeriesDescriptionPattern: regularExpression.optional(),
      })
      .strict()
      .prefault({}),
    volume: z
      .object({
        /** Largest angle, in degrees, between the row or column direction of any slice and that of the reference slice. */
        orientationToleranceDegrees: z.number().positive().max(10).default(0.5),
        /** Largest disagreement of the slice geometry, in mm: a step from the median step, a position off the stack's line. */
        spacingToleranceMm: z.number().positive().max(10).default(0.2),
        /** Irregular slice gaps: `reject` the series, or `resample` it onto the median gap. */
        spacingPolicy: z.enum(['reject', 'resample']).default('reject'),
        /** Largest gap in mm that `resample` bridges by interpolation; a larger gap rejects the series. */
        maxGapMm: z.number().positive().max(50).default(10),
        /** Gantry tilt: `correct` by resampling onto a rectangular grid, or `reject` the series. */
        tiltPolicy: z.enum(['correct', 'reject']).default('correct'),
        /** Different images at one position: `reject` the series, or `split` it and keep the largest acquisition. */
        repeatedPositionPolicy: z.enum(['reject', 'split']).default('reject'),
        /** HU written for padding (PixelPaddingValue) and outside the field of view after resampling. */
        airHu: z.number().int().min(-32768).max(32767).default(-1000),
        /** Worker threads that decode a compressed series; 0 decodes on the worker's main thread. */
        decodeThreads: z.number().int().min(0).max(64).default(2),
        /** Write axial, coronal and sagittal PNG previews of every assembled volume. */
        previews: z.boolean().default(true),
        /** Folder of the previews. Absent: <dataDirectory>/previews. Relative to the config file. */
        previewDirectory: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
    model: z
      .object({
        /** Folder of the model package. Relative to the config file. */
        packagePath: z.string().min(1).default('../test/fixtures/tiny-argus'),
        /** onnxruntime intra-op threads; 0 lets onnxruntime choose. */
        intraOpThreads: z.number().int().min(0).max(256).default(0),
        /** onnxruntime execution provider: `cpu`, or `cuda`, which fails at start when the CUDA provider cannot load. */
        executionProvider: z.enum(['cpu', 'cuda']).default('cpu'),
        /** Upper limit of generated tokens; absent: the package's own setting. */
        maxNewTokens: z.number().int().positive().max(8192).optional(),
        /** Beam width: 1 decodes greedily, more runs beam search. Absent: the package's own setting. */
        numBeams: z.number().int().min(1).max(64).optional(),
        /** Penalty on tokens already generated, 1 for none. Absent: the package's own setting. */
        repetitionPenalty: z.number().positive().max(10).optional(),
        /** Length of the n-grams of generated tokens that must not occur twice, 0 for no limit. Absent: the package's own setting. */
        noRepeatNgramSize: z.number().int().min(0).max(64).optional(),
        /** Contents of the tokens that end generation, e.g. ["<|end|>"]. Absent: the package's end_token_ids. */
        endTokens: z.array(z.string().min(1)).min(1).optional(),
      })
      .strict()
      .prefault({}),
    hl7: z
      .object({
        /** RIS systems that receive ORU^R01 over MLLP. */
        destinations: z.array(hl7Destination).default([]),
        /** MLLP listener for ORM^O01 and OMI^O23 orders from the RIS. Absent: no order intake. */
        orderListener: hl7OrderListener.optional(),
      })
      .strict()
      .prefault({}),
    delivery: z
      .object({
        /** Attempts per delivery before it becomes dead. */
        maxAttempts: z.number().int().min(1).max(1000).default(20),
        /** Seconds before the first retry; each later retry waits twice as long, with jitter, up to retryMaxSeconds. */
        retryBaseSeconds: z.number().positive().max(3600).default(5),
        /** Maximum wait between two attempts, in seconds. */
        retryMaxSeconds: z.number().positive().max(86400).default(600),
        /** Hours after the first attempt after which a failing delivery becomes dead. */
        deadlineHours: z.number().positive().max(8760).default(24),
        /** Deliveries sent at the same time by one process, each to a different destination. */
        maxConcurrentSends: z.number().int().min(1).max(64).default(4),
        /** Seconds between two scans for deliveries that are due. pg-boss polls at most every 0.5 s. */
        pollIntervalSeconds: z.number().min(0.5).max(3600).default(1),
      })
      .strict()
      .prefault({}),
    worker: z
      .object({
        /** Seconds between two scans for complete studies waiting for a report. pg-boss polls at most every 0.5 s. */
        pollIntervalSeconds: z.number().min(0.5).max(3600).default(2),
        /** Report jobs one worker process runs at once; one per GPU, because two inferences on one GPU only compete. */
        concurrency: z.number().int().min(1).max(64).default(1),
      })
      .strict()
      .prefault({}),
    queues: z
      .object({
        /** Seconds between two sweeps for jobs whose lease expired; one process of the fleet sweeps each time. */
        maintenanceIntervalSeconds: z.number().int().min(1).max(3600).default(30),
        /** Seconds a stopping process lets its running jobs finish; the rest go back to the queue for another worker. */
        shutdownGraceSeconds: z.number().int().min(0).max(3600).default(30),
        /** Days a job that used up its attempts stays listed, with its error, before it is deleted. */
        failedJobRetentionDays: z.number().int().min(1).max(365).default(14),
        report: z
          .object({
            /** Seconds a worker keeps a report job without a heartbeat; another worker takes it over after that. */
            leaseSeconds: z.number().int().min(5).max(3600).default(60),
            /** Seconds a report job may run before it is stopped and retried (a hung inference). Below pg-boss's limit of 24 h. */
            timeoutSeconds: z.number().int().min(10).max(86000).default(1800),
            /** Attempts per report job, the first included, before it is dead. */
            maxAttempts: z.number().int().min(1).max(100).default(3),
            /** Seconds before the first retry; each later retry waits about twice as long, with jitter. */
            retryDelaySeconds: z.number().int().min(1).max(86400).default(30),
          })
          .strict()
          .prefault({}),
        delivery: z
          .object({
            /** Seconds a sender keeps a destination's job without a heartbeat before another sender takes it over. */
            leaseSeconds: z.number().int().min(5).max(3600).default(60),
            /** Seconds one delivery job sends to its destination before it hands over to a new job. */
            timeoutSeconds: z.number().int().min(10).max(86000).default(600),
          })
          .strict()
          .prefault({}),
        priority: z
          .object({
            /** Order priorities (TQ1-9, ORC-7.6 or OBR-27.6; HL7 table 0027) that make a report job urgent. */
            urgentOrderPriorities: z.array(z.string().min(1).max(8)).default(['S', 'A']),
            /** Regular expression (case-insensitive) on StudyDescription that makes a report job urgent. */
            urgentStudyDescriptionPattern: regularExpression.optional(),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    api: z
      .object({
        /** Address of the HTTP server with the health, readiness and metrics endpoints, and with the api role the admin API and web console. */
        host: z.string().min(1).default('127.0.0.1'),
        /** TCP port of that server; 0 takes a free port and logs it. Overridden by ARGUS_API_PORT. */
        port: z.number().int().min(0).max(65535).default(8081),
        /** Require an API token (any role) on /metrics. Off: /metrics is open, like /health/live and /health/ready. */
        metricsRequireToken: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    audit: z
      .object({
        /** Export of every audit row to a syslog receiver as a DICOM audit message. Absent: no export. */
        syslog: auditSyslog.optional(),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type ConfigInput = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
