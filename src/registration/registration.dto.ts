import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, Matches } from 'class-validator';
import type { BrokerEndpoint, IssuedCredentials } from '../broker/broker';
import { CLIENT_ID_PATTERN } from '../domain/ids';
import { CONNECTION_TYPES, type ConnectionType } from '../domain/client';

export class RegisterClientRequestDto {
  /** WEBSOCKET: MQTT over WebSocket with a connection token. OPENSSL: MQTT over TLS with a client certificate. */
  @ApiProperty({ enum: CONNECTION_TYPES, example: 'WEBSOCKET' })
  @IsIn(CONNECTION_TYPES)
  connectionType: ConnectionType;
}

export class RegisterPortalClientRequestDto extends RegisterClientRequestDto {
  /** Client id to register (default: the admin's own id for WEBSOCKET, a generated id for OPENSSL). */
  @ApiPropertyOptional({ example: 'kiosk-1' })
  @IsOptional()
  @Matches(CLIENT_ID_PATTERN)
  clientId?: string;
}

/** What a client learns of its credentials: everything issued but the certificate's ARN (an AWS detail, kept in the store). */
type ReturnedCredentials = Omit<IssuedCredentials, 'certificateArn'>;

export class RegistrationResponseDto implements ReturnedCredentials {
  /** The MQTT client id to connect with. */
  clientId: string;

  @ApiProperty({ enum: CONNECTION_TYPES })
  connectionType: ConnectionType;

  @ApiProperty({ enum: ['REGISTERED'] })
  status: 'REGISTERED';

  /** Broker host. */
  endpoint: string;

  port: number;

  /** What an MQTT client connects to (`ws(s)://host:port/mqtt` or `mqtts://host:8883`). */
  url: string;

  /** WEBSOCKET: the MQTT password (username is ignored). Short-lived: register again before it expires. */
  connectionToken?: string;

  connectionTokenExpiresAt?: string;

  /** OPENSSL: the client certificate (CN = clientId). */
  certificatePem?: string;

  /** OPENSSL: the certificate's private key. Returned once, never stored: keep it safe. */
  privateKeyPem?: string;

  /** OPENSSL: the CA that signed the broker's server certificate and the client certificate. */
  caCertificatePem?: string;

  certificateId?: string;
}

export function toRegistrationResponse(
  clientId: string,
  connectionType: ConnectionType,
  endpoint: BrokerEndpoint,
  credentials: IssuedCredentials,
): RegistrationResponseDto {
  const { certificateArn, ...returned } = credentials;
  return { clientId, connectionType, status: 'REGISTERED', endpoint: endpoint.endpoint, port: endpoint.port, url: endpoint.url, ...returned };
}
