/**
 * Runs Debian's python3-hl7 (an independent HL7 v2 parser) on a message and returns the fields the ORU^R01
 * tests check, already unescaped by python-hl7. /usr/bin/python3 is used because other python3 binaries on
 * PATH may lack the Debian package.
 */
import { execFileSync } from 'node:child_process';

const PYTHON = '/usr/bin/python3';

const PARSE_SCRIPT = String.raw`
import json, sys, hl7

message = hl7.parse(sys.stdin.buffer.read().decode('utf-8'))

def get(path):
    try:
        return message[path]
    except (KeyError, IndexError):
        return None

fields = {}
for path in ['MSH.F9.R1.C1', 'MSH.F9.R1.C2', 'MSH.F9.R1.C3', 'MSH.F10', 'MSH.F11', 'MSH.F12', 'MSH.F18',
             'PID.F3.R1.C1', 'PID.F3.R1.C4', 'PID.F5.R1.C1', 'PID.F5.R1.C2', 'PID.F7', 'PID.F8',
             'PV1.F2', 'ORC.F1', 'ORC.F2', 'ORC.F3', 'OBR.F2', 'OBR.F3', 'OBR.F4.R1.C1', 'OBR.F4.R1.C2',
             'OBR.F7', 'OBR.F18', 'OBR.F22', 'OBR.F25']:
    fields[path] = get(path)

observations = []
for obx in message.segments('OBX'):
    observations.append({
        'setId': str(obx(1)),
        'valueType': str(obx(2)),
        'code': str(obx(3)(1)(1)),
        'codingSystem': str(obx(3)(1)(3)),
        'value': message.unescape(str(obx(5))),
        'status': str(obx(11)),
    })

print(json.dumps({
    'segments': [str(segment(0)) for segment in message],
    'fields': fields,
    'observations': observations,
}))
`;

const UNESCAPE_SCRIPT = String.raw`
import json, sys, hl7

# A bare message supplies python-hl7's default delimiters to unescape().
message = hl7.parse('MSH|^~\\&|A\r')
values = json.loads(sys.stdin.buffer.read().decode('utf-8'))
print(json.dumps([message.unescape(value) for value in values]))
`;

export interface PythonObservation {
  setId: string;
  valueType: string;
  code: string;
  codingSystem: string;
  value: string;
  status: string;
}

export interface PythonParsedMessage {
  segments: string[];
  fields: Record<string, string | null>;
  observations: PythonObservation[];
}

/** Parses `message` with python-hl7 (hl7.parse); throws with python's stderr when it cannot. */
export function parseWithPythonHl7(message: string): PythonParsedMessage {
  const output = execFileSync(PYTHON, ['-c', PARSE_SCRIPT], { input: Buffer.from(message, 'utf8') });
  return JSON.parse(output.toString('utf8')) as PythonParsedMessage;
}

/** Unescapes each value with python-hl7's Message.unescape and the default delimiters. */
export function unescapeWithPythonHl7(values: string[]): string[] {
  const output = execFileSync(PYTHON, ['-c', UNESCAPE_SCRIPT], { input: JSON.stringify(values) });
  return JSON.parse(output.toString('utf8')) as string[];
}
