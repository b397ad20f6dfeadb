/** Hand-made MQTT 3.1.1 packets (section 3), so tests can send what no client library would. */
export const mqttPacket = {
  connect(
    clientId: string,
    options: { username?: string; password?: string; protocol?: string; level?: number; flags?: number; keepAlive?: number } = {},
  ): Buffer {
    const flags = options.flags ?? 0x02 | (options.username !== undefined ? 0x80 : 0) | (options.password !== undefined ? 0x40 : 0);
    const keepAlive = options.keepAlive ?? 60;
    const body = Buffer.concat([
      str(options.protocol ?? 'MQTT'),
      Buffer.from([options.level ?? 4, flags, keepAlive >> 8, keepAlive & 0xff]),
      str(clientId),
      ...(options.username !== undefined ? [str(options.username)] : []),
      ...(options.password !== undefined ? [str(options.password)] : []),
    ]);
    return packet(0x10, body);
  },
  subscribe(messageId: number, topic: string, qos = 0, flags = 0x82): Buffer {
    return packet(flags, Buffer.concat([u16(messageId), str(topic), Buffer.from([qos])]));
  },
  publish(topic: string, payload: Buffer | string, flags = 0x30, messageId?: number): Buffer {
    return packet(flags, Buffer.concat([str(topic), ...(messageId !== undefined ? [u16(messageId)] : []), Buffer.from(payload)]));
  },
  pingreq(): Buffer {
    return Buffer.from([0xc0, 0]);
  },
  /** A fixed header announcing `length` bytes without them. */
  header(type: number, length: number): Buffer {
    return Buffer.concat([Buffer.from([type]), remainingLength(length)]);
  },
  raw: packet,
};

function u16(n: number): Buffer {
  return Buffer.from([(n >> 8) & 0xff, n & 0xff]);
}

function str(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  return Buffer.concat([u16(bytes.length), bytes]);
}

function packet(type: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([type]), remainingLength(body.length), body]);
}

function remainingLength(length: number): Buffer {
  const bytes: number[] = [];
  do {
    let byte = length % 128;
    length = Math.floor(length / 128);
    if (length > 0) {
      byte |= 0x80;
    }
    bytes.push(byte);
  } while (length > 0);
  return Buffer.from(bytes);
}
