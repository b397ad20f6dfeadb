/** Whether an AWS SDK error is one of the named service exceptions (compared by name: the IoT and iot-data packages each have their own classes). */
export function isAwsError(error: unknown, ...names: string[]): boolean {
  return error instanceof Error && names.includes(error.name);
}

/** A short, secret-free description of an SDK error for logs and error messages. */
export function describeAwsError(error: unknown): string {
  if (error instanceof Error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    return `${error.name}${status === undefined ? '' : ` (HTTP ${status})`}: ${error.message}`;
  }
  return String(error);
}
