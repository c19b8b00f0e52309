/**
 * HL7 v2 escape sequences for field text. Every value written into a message passes
 * through escapeHl7Text, so a delimiter in report text or a patient name can never split a field, and no
 * raw CR or LF reaches the wire, where a CR would end the segment.
 */

/** The delimiters that MSH-1 and MSH-2 declare for a message. */
export interface Hl7Delimiters {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
}

/** The delimiters this service writes (`MSH|^~\&`), which are also the HL7-recommended ones. */
export const DEFAULT_HL7_DELIMITERS: Hl7Delimiters = {
  field: '|',
  component: '^',
  repetition: '~',
  escape: '\\',
  subcomponent: '&',
};

/**
 * Escapes `text` for use as one field, component or subcomponent value.
 *
 * The delimiters become `\F\ \S\ \T\ \R\ \E\`. CR, LF and the other C0 control characters except TAB
 * become hex escapes such as `\X0D\`, so the result never contains a line break, nor the VT (0x0B) and
 * FS (0x1C) bytes that delimit an MLLP frame. Report text is split into lines before it gets here, so the
 * hex escapes only appear for values that should not contain such characters at all (names, codes).
 */
export function escapeHl7Text(text: string, delimiters: Hl7Delimiters = DEFAULT_HL7_DELIMITERS): string {
  const replacements = new Map<string, string>([
    [delimiters.escape, 'E'],
    [delimiters.field, 'F'],
    [delimiters.component, 'S'],
    [delimiters.subcomponent, 'T'],
    [delimiters.repetition, 'R'],
    ['\r', 'X0D'],
    ['\n', 'X0A'],
  ]);

  // One pass over the characters, so an escape sequence that was just written is never escaped again.
  let escaped = '';
  for (const character of text) {
    const sequence = replacements.get(character) ?? controlCharacterEscape(character);
    escaped += sequence === undefined ? character : `${delimiters.escape}${sequence}${delimiters.escape}`;
  }
  return escaped;
}

/** Returns `Xhh` for a C0 control character other than TAB, or for DEL; undefined for anything else. */
function controlCharacterEscape(character: string): string | undefined {
  const code = character.charCodeAt(0);
  const isControl = (code < 0x20 && code !== 0x09) || code === 0x7f;
  return isControl ? `X${code.toString(16).toUpperCase().padStart(2, '0')}` : undefined;
}

/**
 * Reverses escapeHl7Text: decodes `\F\ \S\ \T\ \R\ \E\` and hex escapes (`\Xhh...\`, read as UTF-8 bytes).
 * Formatting sequences such as `\H\`, `\N\` or `\.br\` and unterminated sequences are kept as they are,
 * because this parser reads ACK text and its own output, not formatted text (FT).
 */
export function unescapeHl7Text(text: string, delimiters: Hl7Delimiters = DEFAULT_HL7_DELIMITERS): string {
  const escapeCharacter = delimiters.escape;
  const named = new Map<string, string>([
    ['E', delimiters.escape],
    ['F', delimiters.field],
    ['S', delimiters.component],
    ['T', delimiters.subcomponent],
    ['R', delimiters.repetition],
  ]);

  let result = '';
  let position = 0;
  while (position < text.length) {
    const start = text.indexOf(escapeCharacter, position);
    const end = start === -1 ? -1 : text.indexOf(escapeCharacter, start + 1);
    if (start === -1 || end === -1) {
      result += text.slice(position);
      break;
    }

    result += text.slice(position, start);
    const sequence = text.slice(start + 1, end);
    result += decodeSequence(sequence, named) ?? text.slice(start, end + 1);
    position = end + 1;
  }
  return result;
}

function decodeSequence(sequence: string, named: Map<string, string>): string | undefined {
  const character = named.get(sequence);
  if (character !== undefined) return character;

  const hex = /^X((?:[0-9A-Fa-f]{2})+)$/.exec(sequence)?.[1];
  if (hex === undefined) return undefined;
  return Buffer.from(hex, 'hex').toString('utf8');
}
