/** Certificate serials as the CA writes them (lowercase hex) and as TLS reports them (uppercase hex), compared alike. */
export function normalSerial(serial: string): string {
  return serial.toLowerCase().replace(/^0+/, '');
}
