/** A test playing a BGP router on a raw socket: what it reads, decoded, and the OPEN it answers with. */
import type { Socket } from 'node:net';
import { decodeMessage } from '../../src/bgp/codec/decode.ts';
import { encodeKeepalive, encodeOpen } from '../../src/bgp/codec/encode.ts';
import { MessageFramer } from '../../src/bgp/codec/framer.ts';
import type { BgpMessage, Capability } from '../../src/bgp/codec/messages.ts';

/**
 * Calls `each` with every message that decodes as the socket's bytes come in; `each` returning false stops
 * reading for good (the socket's data listener is removed).
 */
export function onMessages(socket: Socket, each: (m: BgpMessage) => boolean | undefined): void {
  const framer = new MessageFramer();
  const listener = (chunk: Buffer) => {
    framer.push(chunk);
    for (let f = framer.next(); f?.ok; f = framer.next()) {
      const d = decodeMessage(f.bytes, { fourOctetAs: true });
      if (d.ok && each(d.value) === false) {
        socket.off('data', listener);
        return;
      }
    }
  };
  socket.on('error', () => {});
  socket.on('data', listener);
}

/** Answers Beacon's OPEN as router `asn` (4-octet capable), then says KEEPALIVE. */
export function answerOpen(
  socket: Socket,
  asn: number,
  bgpId: string,
  capabilities: Capability[] = [],
): void {
  socket.write(
    encodeOpen({
      myAs: asn,
      holdTime: 90,
      bgpId,
      capabilities: [...capabilities, { kind: 'four-octet-as', asn }],
    }),
  );
  socket.write(encodeKeepalive());
}
