/** UIDs this service uses, from PS3.6 Annex A unless noted. */

export const SopClass = {
  Verification: '1.2.840.10008.1.1',
  CtImageStorage: '1.2.840.10008.5.1.4.1.1.2',
  BasicTextSrStorage: '1.2.840.10008.5.1.4.1.1.88.11',
} as const;

export const TransferSyntax = {
  ImplicitVrLittleEndian: '1.2.840.10008.1.2',
  ExplicitVrLittleEndian: '1.2.840.10008.1.2.1',
} as const;

/**
 * Implementation Class UID written into the file meta of every file we store or send (PS3.7 D.3.3.2).
 * It was generated once for argus-gateway under the UUID-derived root 2.25 (PS3.5 B.2).
 */
export const IMPLEMENTATION_CLASS_UID = '2.25.327285383779793437196226627017040886520';
export const IMPLEMENTATION_VERSION_NAME = 'ARGUS_GW_0_1';
