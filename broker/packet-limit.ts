import type { Client } from 'aedes';

interface LengthParser {
  packet: { length: number; cmd?: string };
  client: Client;
  _parseLength(): boolean;
  _emitError(err: Error): void;
}

/** Installs the packet size limit on one client's parser. */
export type LimitPacketSize = (client: Client) => void;

/**
 * Aedes has no maximum packet size (a 64 MiB PUBLISH is buffered and delivered). The MQTT fixed header
 * carries the remaining length before the body arrives, so the limit is enforced right after that field
 * is read ([MQTT-2.2.3]): the body of an oversized packet is never buffered. The client's parser is
 * mqtt-packet's; its `_parseLength` step is replaced for each client by one function shared by all the
 * broker's clients (aedes sets `parser.client`).
 */
export function packetSizeLimit(maxBytes: number, onRefused: (client: Client, length: number) => void): LimitPacketSize {
  let parseLength: LengthParser['_parseLength'] | undefined;
  function limitedParseLength(this: LengthParser): boolean {
    const done = parseLength!.call(this);
    if (done && this.packet.length > maxBytes) {
      onRefused(this.client, this.packet.length);
      this._emitError(new Error(`packet of ${this.packet.length} bytes exceeds the limit of ${maxBytes}`));
      return false;
    }
    return done;
  }
  return (client) => {
    const parser = (client as unknown as { _parser: LengthParser })._parser;
    parseLength ??= (Object.getPrototypeOf(parser) as LengthParser)._parseLength;
    parser._parseLength = limitedParseLength;
  };
}
