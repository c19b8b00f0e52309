/**
 * Types for the parts of hl7-standard 1.0.4 that the ORU^R01 builder uses, because the package ships none.
 * A field value is a string, or an object keyed `SEG.n.m` for components. Values are written unescaped.
 */
declare module 'hl7-standard' {
  export type Hl7StandardValue = string | Record<string, string>;

  export interface Hl7StandardSegment {
    readonly type: string;
    /**
     * Sets field `SEG.n` (or component `SEG.n.m`). Missing fields before n are created empty, so that
     * fields set later keep their position.
     */
    set(field: string, value: Hl7StandardValue): unknown;
  }

  export default class HL7 {
    constructor(data?: string, options?: { lineEndings?: string });
    /** Appends a segment after the ones created so far. */
    createSegment(name: string): Hl7StandardSegment;
    /** Joins the segments with `lineEndings` (default CR LF); the last segment gets none. */
    build(): string;
  }
}
