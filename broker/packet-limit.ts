import type { Client } from 'aedes';

interface LengthParser {
  packet: { length: number; cmd?: string };
  _parseLength(): boolean;
  _emitError(err: Error): void;
}

/**
 * Aedes has no maximum packet size (a 64 MiB PUBLISH is buffered and delivered). The MQTT fixed header
 * carries the remaining length before the body arrives, so the limit is enforced right after that field
 * is read ([MQTT-2.2.3]): the body of an oversized packet is never buffered. The client's parser is
 * mqtt-packet's; its `_parseLength` step is wrapped for this one client.
 */
export function limitPacketSize(client: Client, maxBytes: number, onRefused: (length: number) => void): void {
  const parser = (client as unknown as { _parser: LengthParser })._parser;
  const parseLength = parser._parseLength;
  parser._parseLength = function limitedParseLength(this: LengthParser): boolean {
    const done = parseLength.call(this);
    if (done && this.packet.length > maxBytes) {
      onRefused(this.packet.length);
      this._emitError(new Error(`packet of ${this.packet.length} bytes exceeds the limit of ${maxBytes}`));
      return false;
    }
    return done;
  };
}
