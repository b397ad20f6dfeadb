export type Role = 'admin' | 'service' | 'client';

/** The authenticated HTTP caller (a bearer token's client id and role), attached to the request by the JWT strategy. */
export interface ApiCaller {
  clientId: string;
  role: Role;
}

/** admin > service > client: `roles` may be a string (space/comma separated) or an array. */
export function roleFromClaim(claim: unknown): Role {
  const values = Array.isArray(claim)
    ? claim.filter((v): v is string => typeof v === 'string')
    : typeof claim === 'string'
      ? claim.split(/[\s,]+/)
      : [];
  if (values.includes('admin')) {
    return 'admin';
  }
  if (values.includes('service')) {
    return 'service';
  }
  return 'client';
}
