/**
 * Sends HL7 messages to an MLLP listener with Debian's python3-hl7 (hl7.client.MLLPClient), an MLLP
 * sender written independently of this project, and returns each ACK as python-hl7 parses it.
 */
import { execFile } from 'node:child_process';

const PYTHON = '/usr/bin/python3';

const SEND_SCRIPT = String.raw`
import base64, json, sys, hl7
from hl7.client import MLLPClient

port = int(sys.argv[1])
payloads = json.loads(sys.stdin.read())

def field(message, path):
    try:
        return str(message[path])
    except (KeyError, IndexError):
        return None

def whole_field(message, segment_name, number):
    # Calling a segment returns the whole field, components joined, where message[path] gives component 1.
    try:
        return str(message.segment(segment_name)(number))
    except (KeyError, IndexError):
        return None

replies = []
with MLLPClient('127.0.0.1', port) as client:
    for payload in payloads:
        reply = client.send_message(base64.b64decode(payload))
        while b'\x1c' not in reply:
            chunk = client.socket.recv(4096)
            if not chunk:
                break
            reply += chunk
        if not reply:
            replies.append(None)
            continue
        text = reply.strip(b'\x0b\x1c\r').decode('utf-8')
        ack = hl7.parse(text)
        replies.append({
            'raw': text,
            'messageType': whole_field(ack, 'MSH', 9),
            'ackCode': field(ack, 'MSA.F1'),
            'acknowledgedId': field(ack, 'MSA.F2'),
            'ackText': field(ack, 'MSA.F3'),
            'errorLocation': whole_field(ack, 'ERR', 2),
            'errorCode': field(ack, 'ERR.F3.R1.C1'),
            'errorCodingSystem': field(ack, 'ERR.F3.R1.C3'),
            'severity': field(ack, 'ERR.F4'),
            'userMessage': field(ack, 'ERR.F8'),
        })
print(json.dumps(replies))
`;

export interface PythonAck {
  raw: string;
  messageType: string | null;
  ackCode: string | null;
  acknowledgedId: string | null;
  ackText: string | null;
  errorLocation: string | null;
  errorCode: string | null;
  errorCodingSystem: string | null;
  severity: string | null;
  userMessage: string | null;
}

/** Sends `messages` over one connection, in order, and returns the parsed ACKs (null when none came). */
export function sendWithPythonHl7(port: number, messages: Array<string | Buffer>): Promise<Array<PythonAck | null>> {
  const payloads = messages.map((message) => (typeof message === 'string' ? Buffer.from(message, 'utf8') : message).toString('base64'));
  return new Promise((resolve, reject) => {
    const child = execFile(PYTHON, ['-c', SEND_SCRIPT, String(port)], { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`python-hl7 MLLPClient failed: ${stderr || error.message}`));
        return;
      }
      resolve(JSON.parse(stdout) as Array<PythonAck | null>);
    });
    child.stdin?.end(JSON.stringify(payloads));
  });
}
